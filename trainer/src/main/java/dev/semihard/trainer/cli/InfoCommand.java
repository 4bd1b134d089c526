package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.nn.Models;
import dev.semihard.trainer.data.DataSources;
import dev.semihard.trainer.data.Idx;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code semihard info}: every backend found, whether it can run here and why not, and the data found. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "List the backends found (ServiceLoader), each probe's result and reason, the models, and the default data.")
public final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.println("semihard 0.1.0, Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + "), "
                + Runtime.getRuntime().availableProcessors() + " cores, max heap "
                + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB");
        List<Backends.Ranked> ps = Backends.ranked();
        out.println();
        out.println(String.format("%-10s %-8s %-11s %s", "backend", "priority", "status", "device or reason"));
        String chosen = null;
        for (Backends.Ranked r : ps) {
            Availability a = r.availability();
            if (a.available() && chosen == null) chosen = r.provider().name();
            String why = r.provider().priorityReason(a);
            out.println(String.format("%-10s %-8d %-11s %s", r.provider().name(), r.priority(), a.available() ? "available" : "unavailable",
                    a.detail() + (why == null ? "" : " [priority " + r.priority() + ": " + why + "]")));
        }
        if (ps.isEmpty()) out.println("(no backend found on the class path: the jars are incomplete; rebuild with ./semihard)");
        out.println();
        // the line --backend auto logs: what it picks and why each faster backend was skipped
        out.println(chosen == null ? "backend: none available (--backend auto fails)" : Backends.autoChoiceLine(ps));
        String req = Backends.requestedName();
        if (!req.equals("auto")) out.println("requested by -Dsemihard.backend / SEMIHARD_BACKEND: " + req);
        out.println("models (--model): " + Models.FMNIST_CNN + " (1x28x28); " + String.join(", ", Models.names().stream().filter(n -> !n.equals(Models.FMNIST_CNN)).toList())
                + " (3xSxS, --input-size S from " + Models.MIN_FACE_INPUT + " to " + Models.MAX_FACE_INPUT + ", default " + Models.FACE_INPUT
                + "); embeddings of --embedding-dim D (default " + Models.EMBEDDING_DIM + ")");
        boolean sys = Idx.find(DataSources.SYSTEM_FMNIST, "train-images-idx3-ubyte") != null;
        out.println("Fashion-MNIST: " + (sys ? DataSources.SYSTEM_FMNIST
                : "not installed (apt-get install dataset-fashion-mnist); the embedded subset will be used"));
        return 0;
    }
}
