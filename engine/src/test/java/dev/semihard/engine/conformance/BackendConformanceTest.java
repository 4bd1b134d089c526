package dev.semihard.engine.conformance;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The conformance suite as JUnit 5 tests: one dynamic test per {@link Conformance} check, holding
 * the candidate backend to the reference backend kernel by kernel. Published in the engine
 * test-jar; each backend module adds a tiny subclass ({@code OpenClConformanceTest},
 * {@code CudaConformanceTest}) implementing {@link #createCandidate()}.
 *
 * <ul>
 *   <li>A failing check fails its test with the check's detail (the worst element).</li>
 *   <li>A kernel the candidate does not implement ({@link UnsupportedOperationException}) prints
 *       {@code SKIPPED (unsupported): ...} to stderr and aborts the test: a loud skip, never a pass.</li>
 *   <li>When {@link #createCandidate()} throws {@link Backends.BackendUnavailableException} (no GPU, no
 *       driver), the suite is one test, "backend X available", skipped with a loud message on stderr,
 *       <b>unless</b> the backend's name is listed in the system property {@code semihard.require} or
 *       the environment variable {@code SEMIHARD_REQUIRE} (comma-separated, e.g. {@code opencl,cuda}):
 *       then that test fails, so a CI machine that must test a backend cannot silently skip it.</li>
 *   <li>{@code -Dsemihard.conformance.large=true} adds the full-size benchmark shapes.</li>
 * </ul>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class BackendConformanceTest {
    /** System property listing backends that must be available (comma-separated). */
    public static final String REQUIRE_PROPERTY = "semihard.require";
    /** Environment variable with the same meaning as {@link #REQUIRE_PROPERTY}. */
    public static final String REQUIRE_ENV = "SEMIHARD_REQUIRE";

    private Backend reference;
    private Backend candidate;
    private final List<CheckResult> results = new ArrayList<>();

    /** Creates the backend under test; may throw {@link Backends.BackendUnavailableException}. */
    protected abstract Backend createCandidate();

    /**
     * The candidate's backend name, used for {@code semihard.require} when creation fails. Default:
     * the class name without "ConformanceTest", lower case ({@code OpenClConformanceTest} -> "opencl").
     */
    protected String candidateName() {
        String s = getClass().getSimpleName();
        if (s.endsWith("ConformanceTest")) s = s.substring(0, s.length() - "ConformanceTest".length());
        return s.toLowerCase(Locale.ROOT);
    }

    /** The backend the candidate is compared with; the reference backend by default. */
    protected Backend createReference() { return new ReferenceBackend(); }

    /** Whether to add the full-size shapes (system property {@code semihard.conformance.large}). */
    protected boolean large() { return Boolean.getBoolean("semihard.conformance.large"); }

    /** True when {@code name} is listed in {@link #REQUIRE_PROPERTY} or {@link #REQUIRE_ENV}. */
    public static boolean required(String name) {
        for (String src : new String[]{System.getProperty(REQUIRE_PROPERTY), System.getenv(REQUIRE_ENV)}) {
            if (src == null) continue;
            if (Arrays.stream(src.split(",")).map(t -> t.trim().toLowerCase(Locale.ROOT)).anyMatch(t -> t.equals(name.toLowerCase(Locale.ROOT))))
                return true;
        }
        return false;
    }

    @TestFactory
    Stream<DynamicTest> conformance() {
        try {
            candidate = createCandidate();
        } catch (Backends.BackendUnavailableException e) {
            // one visible test (surefire counts it as failed or skipped) rather than an empty suite
            String name = candidateName();
            if (required(name)) {
                String msg = "backend " + name + " is required (" + REQUIRE_PROPERTY + " / " + REQUIRE_ENV
                        + ") but unavailable: " + e.getMessage();
                System.err.println("*** FAILED: " + msg);
                return Stream.of(DynamicTest.dynamicTest("backend " + name + " available", () -> Assertions.fail(msg, e)));
            }
            String msg = "SKIPPED: backend " + name + " unavailable: " + e.getMessage()
                    + " (list it in -D" + REQUIRE_PROPERTY + " or " + REQUIRE_ENV + " to make this a failure)";
            System.err.println("*** " + msg);
            return Stream.of(DynamicTest.dynamicTest("backend " + name + " available", () -> Assumptions.abort(msg)));
        }
        reference = createReference();
        System.err.println("conformance: candidate " + candidate.name() + " (" + candidate.deviceDescription()
                + ") against " + reference.name() + " (" + reference.deviceDescription() + ")");
        return Conformance.checks(large()).stream().map(check -> DynamicTest.dynamicTest(check.name(), () -> {
            CheckResult r = check.run(reference, candidate);
            synchronized (results) { results.add(r); }
            if (r.skipped()) {
                System.err.println("*** SKIPPED (unsupported): " + r.name() + ": " + r.detail());
                Assumptions.abort("SKIPPED (unsupported): " + r.detail());
            }
            if (!r.passed()) Assertions.fail(r.name() + ": " + r.detail());
        }));
    }

    @AfterAll
    void closeBackends() {
        if (!results.isEmpty()) {
            long failed = results.stream().filter(r -> !r.passed() && !r.skipped()).count();
            long skipped = results.stream().filter(CheckResult::skipped).count();
            System.err.println("conformance of " + (candidate == null ? candidateName() : candidate.name()) + ": "
                    + (results.size() - failed - skipped) + " passed, " + failed + " FAILED, " + skipped
                    + " SKIPPED (unsupported), of " + results.size() + " checks");
        }
        if (candidate != null) candidate.close();
        if (reference != null) reference.close();
    }
}
