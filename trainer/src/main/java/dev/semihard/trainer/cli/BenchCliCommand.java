package dev.semihard.trainer.cli;

import dev.semihard.bench.BenchCommand;
import dev.semihard.bench.Workloads;
import dev.semihard.trainer.data.DataBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code semihard bench}: the picocli front of {@link BenchCommand} (bench module). */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Time the benchmark workloads W1 (triplet loss), W2 (train step) and W3 (conv layers) on one backend.",
                "The workloads are those of docs/benchmarks.md; each runs with warm-up and device timing and reports the median.",
                "Writes semihard-<backend>.json and .md into --out."})
public final class BenchCliCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BackendChoiceMixin backendChoice;

    @Option(names = "--workloads", paramLabel = "W", split = ",", defaultValue = "W1,W2,W3",
            description = "any of W1,W2,W3 and data (the loader from a pack against a face-resnet10 step; default ${DEFAULT-VALUE})")
    List<String> workloads = new ArrayList<>();

    @Option(names = "--quick", description = "small sizes and few repetitions (CPUs)")
    boolean quick;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "bench-results", description = "output folder (default ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--max-batch", paramLabel = "B", defaultValue = "-1", description = "largest W1 batch (-1 = the backend's default, 0 = none)")
    int maxBatch;

    @Option(names = "--w3-batch", paramLabel = "N", defaultValue = "0", description = "W3 batch instead of the workload's (0 = the workload's)")
    int w3Batch;

    @Option(names = "--w1-batches", paramLabel = "B", description = "only these W1 batches (of 256, 1024, 1800, 4096, 8192, 16384; default all)")
    String w1Batches;

    @Option(names = "--w1-strategies", paramLabel = "S", description = "only these W1 strategies (semihard, batch-hard, batch-all; default all)")
    String w1Strategies;

    @Option(names = "--w2-models", paramLabel = "M", description = "only these W2 models (fmnist-cnn, face-resnet10; default all)")
    String w2Models;

    @Option(names = "--profile", description = "after each W1/W2 case, a per-kernel profile on opencl or cuda: launches and device ms"
            + " per iteration and share of the iteration, printed and written into the results")
    boolean profile;

    @Option(names = "--profile-iterations", paramLabel = "N", defaultValue = "0",
            description = "profiled iterations per case (default " + BenchCommand.DEFAULT_PROFILE_ITERATIONS + " with --profile; implies --profile)")
    int profileIterations;

    @Option(names = "--precision", paramLabel = "P", defaultValue = "fp32",
            description = "fp32 or tf32: CUDA convolutions and linear layers on tensor cores (W2, W3; default ${DEFAULT-VALUE})")
    String precision;

    @Override
    public Integer call() throws java.io.IOException {
        boolean data = workloads.removeIf(w -> w.trim().equalsIgnoreCase("data"));
        int rc = 0;
        if (!workloads.isEmpty()) rc = runEngineWorkloads();
        if (data && rc == 0)
            rc = DataBench.run(backendChoice.backend.equals("auto") ? autoName() : backendChoice.backend, backendChoice.threads, quick, out, System.out);
        return rc;
    }

    /** The backend "auto" picks here (the data workload times its training step there). */
    private static String autoName() {
        try (dev.semihard.engine.backend.Backend b = dev.semihard.engine.backend.Backends.create("auto")) {
            return b.name();
        }
    }

    private int runEngineWorkloads() {
        BenchCommand.Config cfg;
        try {
            if (profileIterations < 0) throw new IllegalArgumentException("--profile-iterations must be >= 1, got " + profileIterations);
            int iterations = profileIterations > 0 ? profileIterations : profile ? BenchCommand.DEFAULT_PROFILE_ITERATIONS : 0;
            cfg = new BenchCommand.Config(backendChoice.backend, workloads, quick, out, backendChoice.threads, maxBatch, w3Batch,
                    commandLine(spec.commandLine().getParseResult().originalArgs()),
                    Workloads.Selection.parse(w1Batches, w1Strategies, w2Models), iterations, precision);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        return BenchCommand.run(cfg, System.out);
    }

    /** "semihard bench ARGS" (picocli's original arguments start with the subcommand's name when run from Main). */
    static String commandLine(List<String> args) {
        List<String> rest = !args.isEmpty() && args.get(0).equals("bench") ? args.subList(1, args.size()) : args;
        return "semihard bench " + String.join(" ", rest);
    }
}
