package dev.semihard.engine.conformance;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The harness can fail: deliberately wrong candidates (a wrong element, a write past the end, an
 * accumulating output, a missing kernel, an unavailable backend) must each be reported, with a
 * detail that names the offending element.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConformanceHarnessTest {
    private ReferenceBackend reference;

    @BeforeAll
    void open() { reference = new ReferenceBackend(); }

    @AfterAll
    void close() { reference.close(); }

    private Map<String, CheckResult> run(Backend candidate, Predicate<String> which) {
        return Conformance.checks().stream().filter(c -> which.test(c.name()))
                .map(c -> c.run(reference, candidate))
                .collect(Collectors.toMap(CheckResult::name, r -> r));
    }

    /** reluForward off by 1e-2 at element 3 (when n > 3). */
    static final class WrongRelu extends DelegatingBackend {
        WrongRelu(ReferenceBackend inner) { super(inner); }

        @Override
        public void reluForward(long n, Buffer x, Buffer y) {
            inner.reluForward(n, x, y);
            if (n > 3) {
                float[] v = new float[1];
                inner.download(y, 3, v, 0, 1);
                v[0] += 1e-2f;
                inner.upload(v, 0, y, 3, 1);
            }
        }
    }

    @Test
    void aWrongElementFailsTheCheckAndIsNamed() {
        try (ReferenceBackend inner = new ReferenceBackend(1)) {
            Map<String, CheckResult> r = run(new WrongRelu(inner), name -> name.startsWith("relu") || name.startsWith("add"));
            CheckResult bad = r.get("reluForward n=7");
            assertFalse(bad.passed(), bad.toString());
            assertFalse(bad.skipped());
            assertTrue(bad.detail().contains("y[3]"), bad.detail());
            assertTrue(bad.detail().contains("allowed"), bad.detail());
            assertTrue(bad.detail().contains("1 of 10"), bad.detail()); // 7 elements + 3 tail, one wrong
            assertFalse(r.get("reluForward in place n=1001").passed());
            assertTrue(r.get("reluForward in place n=1001").detail().contains("x[3]"));
            // the same kernel with n = 1 never touches element 3, and other kernels are unaffected
            assertTrue(r.get("reluForward n=1").passed(), r.get("reluForward n=1").toString());
            assertTrue(r.get("reluBackward n=7").passed());
            assertTrue(r.get("add n=10007").passed());
        }
    }

    @Test
    void aWritePastTheEndIsCaught() {
        try (ReferenceBackend inner = new ReferenceBackend(1)) {
            Backend candidate = new DelegatingBackend(inner) {
                @Override
                public void add(long n, Buffer a, Buffer b, Buffer y) {
                    inner.add(n, a, b, y);
                    inner.fill(y, n, 1, 0f); // one element too many
                }
            };
            CheckResult r = run(candidate, name -> name.equals("add n=7")).get("add n=7");
            assertFalse(r.passed(), r.toString());
            assertTrue(r.detail().contains("y[past the end +0]"), r.detail());
        }
    }

    @Test
    void anOutputThatAccumulatesInsteadOfOverwritingIsCaught() {
        try (ReferenceBackend inner = new ReferenceBackend(1)) {
            Backend candidate = new DelegatingBackend(inner) {
                @Override
                public void conv2dForward(ConvGeometry g, Buffer x, Buffer w, Buffer bias, Buffer y) {
                    try (Buffer t = inner.allocate(g.outputSize())) {
                        inner.conv2dForward(g, x, w, bias, t);
                        inner.axpy(g.outputSize(), 1f, t, y); // y += conv: wrong, outputs are overwritten
                    }
                }
            };
            String name = "conv2dForward n2 c3 8x8 k4 3x3 s1 p1 bias";
            CheckResult r = run(candidate, name::equals).get(name);
            assertFalse(r.passed(), r.toString());
            assertTrue(r.detail().contains("y[0, 0, 0, 0]"), r.detail());
        }
    }

    @Test
    void anUnsupportedKernelIsALoudSkipNotAPass() {
        try (ReferenceBackend inner = new ReferenceBackend(1)) {
            Backend candidate = new DelegatingBackend(inner) {
                @Override public String name() { return "partial"; }

                @Override
                public void tripletLoss(int b, int d, int[] labels, TripletOptions o, Buffer e, Buffer dE, Buffer stats) {
                    throw new UnsupportedOperationException("tripletLoss is not written yet");
                }
            };
            Map<String, CheckResult> r = run(candidate, name -> name.startsWith("tripletLoss") || name.startsWith("axpy"));
            List<CheckResult> triplet = r.values().stream().filter(c -> c.name().startsWith("tripletLoss")).toList();
            assertEquals(3 * 3 * 2 * 8, triplet.size());
            for (CheckResult c : triplet) {
                assertTrue(c.skipped(), c.toString());
                assertFalse(c.passed());
                assertTrue(c.detail().startsWith("SKIPPED (unsupported): backend 'partial'"), c.detail());
                assertTrue(c.detail().contains("not written yet"), c.detail());
            }
            assertTrue(r.get("axpy n=7").passed());
        }
    }

    /** A conformance test whose backend cannot be created. */
    static final class Unavailable extends BackendConformanceTest {
        @Override
        protected Backend createCandidate() { throw new Backends.BackendUnavailableException("no device in this test"); }

        @Override
        protected String candidateName() { return "fakegpu"; }
    }

    @Test
    void anUnavailableBackendSkipsLoudlyUnlessRequired() {
        String old = System.getProperty(BackendConformanceTest.REQUIRE_PROPERTY);
        try {
            System.setProperty(BackendConformanceTest.REQUIRE_PROPERTY, "opencl");
            List<DynamicTest> tests = new Unavailable().conformance().toList();
            assertEquals(1, tests.size()); // one visible test, not an empty suite
            TestAbortedException skip = assertThrows(TestAbortedException.class, () -> tests.get(0).getExecutable().execute());
            assertTrue(skip.getMessage().contains("SKIPPED: backend fakegpu unavailable: no device in this test"), skip.getMessage());

            System.setProperty(BackendConformanceTest.REQUIRE_PROPERTY, "opencl, fakegpu");
            List<DynamicTest> required = new Unavailable().conformance().toList();
            assertEquals(1, required.size());
            AssertionFailedError fail = assertThrows(AssertionFailedError.class, () -> required.get(0).getExecutable().execute());
            assertTrue(fail.getMessage().contains("required"), fail.getMessage());
        } finally {
            if (old == null) System.clearProperty(BackendConformanceTest.REQUIRE_PROPERTY);
            else System.setProperty(BackendConformanceTest.REQUIRE_PROPERTY, old);
        }
    }

    @Test
    void indicesAreNamedPerDimension() {
        assertEquals("[1, 2, 3] (flat 23)", Conformance.index(new int[]{2, 3, 4}, 23));
        assertEquals("[5]", Conformance.index(new int[]{7}, 5));
        assertEquals("[past the end +1]", Conformance.index(new int[]{2, 3}, 7));
    }

    @Test
    void everyBackendKernelHasACheck() {
        List<String> names = Conformance.checks().stream().map(Check::name).toList();
        for (java.lang.reflect.Method m : Backend.class.getDeclaredMethods()) {
            if (java.lang.reflect.Modifier.isStatic(m.getModifiers())) continue;   // argument checks, not kernels
            String k = m.getName();
            if (List.of("name", "deviceDescription", "precision", "synchronize", "bytesInUse", "peakBytes", "close").contains(k)) continue;
            String prefix = switch (k) {
                case "upload", "download" -> "uploadDownload";
                case "allocate" -> "allocate";
                default -> k;
            };
            assertTrue(names.stream().anyMatch(n -> n.startsWith(prefix + " ")), "no conformance check for Backend." + k);
        }
    }
}
