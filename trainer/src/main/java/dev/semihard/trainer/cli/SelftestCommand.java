package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.conformance.CheckResult;
import dev.semihard.engine.conformance.Conformance;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.kernels.cuda.CudaBackend;
import dev.semihard.kernels.cuda.Tf32Checks;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code semihard selftest}: the conformance suite (the same checks as the JUnit suite) of one
 * backend against the reference backend, runnable where there is no Maven, e.g. on a GPU machine.
 */
@Command(name = "selftest", mixinStandardHelpOptions = true,
        description = {"Check every kernel of --backend against the reference backend.",
                "Runs each kernel on seeded inputs and prints PASS / FAIL / SKIP with the worst element of each check.",
                "With --precision tf32 (CUDA) the suite runs in fp32 and then the TF32 tensor-core convolutions and linear layers",
                "are checked against the reference on TF32-rounded inputs.",
                "Exit code 1 on any failure or skip."})
public final class SelftestCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BackendOptionsMixin backendOptions;

    @picocli.CommandLine.Option(names = "--allow-skips", description = "exit 0 when checks were skipped (kernels not implemented) but none failed")
    boolean allowSkips;

    @picocli.CommandLine.Option(names = "--large", description = "also run the large shapes (the model's real layer sizes; slower)")
    boolean large;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        BackendOptions asked = backendOptions.options();
        boolean tf32 = asked.precision().equals("tf32");
        // the suite's tolerances are fp32's: with tf32 asked for, it runs on an fp32 backend, the TF32 kernels after it
        BackendOptions fp32 = new BackendOptions(asked.device(), "fp32", asked.threads(), asked.extra());
        int fail = 0, skip = 0;
        try (Backend candidate = Backends.create(backendOptions.choice.backend, fp32); ReferenceBackend ref = new ReferenceBackend()) {
            out.println("conformance of " + candidate.name() + " (" + candidate.deviceDescription() + ") against the reference backend");
            List<CheckResult> results = Conformance.runAll(ref, candidate, large);
            int pass = 0;
            int w = 10;
            for (CheckResult r : results) w = Math.max(w, r.name().length());
            for (CheckResult r : results) {
                String st = r.skipped() ? "SKIP" : r.passed() ? "PASS" : "FAIL";
                if (r.skipped()) skip++; else if (r.passed()) pass++; else fail++;
                out.println(String.format("%-4s  %-" + w + "s  %s", st, r.name(), r.detail() == null ? "" : r.detail()));
            }
            out.println();
            out.println(String.format("%d checks: %d passed, %d failed, %d skipped", results.size(), pass, fail, skip));
            if (tf32) fail += tf32Checks(out, candidate.name(), ref);
            out.flush();
        }
        if (fail > 0) return 1;
        if (skip > 0 && !allowSkips) {
            out.println("skipped checks count as failures (kernels missing); pass --allow-skips to accept them");
            return 1;
        }
        return 0;
    }

    /** The TF32 kernels ({@link Tf32Checks}) of a second backend made with precision tf32; returns the failures. */
    private int tf32Checks(PrintWriter out, String name, ReferenceBackend ref) {
        out.println();
        try (Backend t = Backends.create(name, backendOptions.options())) {
            if (!t.precision().equals("tf32")) {
                out.println("FAIL  tf32: backend '" + name + "' has no TF32 path (it computes in " + t.precision()
                        + "); the TF32 checks need --backend cuda on an NVIDIA GPU");
                return 1;
            }
            out.println("TF32 tensor-core kernels of " + name + " against the reference on TF32-rounded inputs");
            int sms = t instanceof CudaBackend c ? c.smCount() : 4;
            List<CheckResult> results = Tf32Checks.run(ref, t, sms);
            int failed = 0;
            for (CheckResult r : results) {
                if (!r.passed()) failed++;
                out.println(String.format("%-4s  %s  %s", r.passed() ? "PASS" : "FAIL", r.name(), r.detail()));
            }
            out.println(String.format("%d tf32 checks: %d passed, %d failed", results.size(), results.size() - failed, failed));
            return failed;
        }
    }
}
