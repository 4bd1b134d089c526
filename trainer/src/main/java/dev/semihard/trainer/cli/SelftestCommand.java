package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.conformance.CheckResult;
import dev.semihard.engine.conformance.Conformance;
import dev.semihard.engine.reference.ReferenceBackend;
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
        try (Backend candidate = backendOptions.create(); ReferenceBackend ref = new ReferenceBackend()) {
            out.println("conformance of " + candidate.name() + " (" + candidate.deviceDescription() + ") against the reference backend");
            List<CheckResult> results = Conformance.runAll(ref, candidate, large);
            int pass = 0, fail = 0, skip = 0;
            int w = 10;
            for (CheckResult r : results) w = Math.max(w, r.name().length());
            for (CheckResult r : results) {
                String st = r.skipped() ? "SKIP" : r.passed() ? "PASS" : "FAIL";
                if (r.skipped()) skip++; else if (r.passed()) pass++; else fail++;
                out.println(String.format("%-4s  %-" + w + "s  %s", st, r.name(), r.detail() == null ? "" : r.detail()));
            }
            out.println();
            out.println(String.format("%d checks: %d passed, %d failed, %d skipped", results.size(), pass, fail, skip));
            out.flush();
            if (fail > 0) return 1;
            if (skip > 0 && !allowSkips) {
                out.println("skipped checks count as failures (kernels missing); pass --allow-skips to accept them");
                return 1;
            }
            return 0;
        }
    }
}
