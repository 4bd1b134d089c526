package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backends;
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
        description = "List the backends found (ServiceLoader), each probe's result and reason, and the default data.")
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
        out.println("--backend auto picks: " + (chosen == null ? "nothing (no backend available)" : chosen));
        String req = Backends.requestedName();
        if (!req.equals("auto")) out.println("requested by -Dsemihard.backend / SEMIHARD_BACKEND: " + req);
        boolean sys = Idx.find(DataSources.SYSTEM_FMNIST, "train-images-idx3-ubyte") != null;
        out.println("Fashion-MNIST: " + (sys ? DataSources.SYSTEM_FMNIST
                : "not installed (apt-get install dataset-fashion-mnist); the embedded subset will be used"));
        return 0;
    }
}
