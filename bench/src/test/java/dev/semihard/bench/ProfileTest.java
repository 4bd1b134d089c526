package dev.semihard.bench;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.reference.ReferenceBackend;
import dev.semihard.engine.util.Json;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code semihard bench --profile}: the profile pass, its table, the case selection, and a real run on OpenCL. */
class ProfileTest {
    static final Timing.Plan ONE = new Timing.Plan(0, 1, 1, 1e-3);

    /**
     * The reference backend behind a proxy that also implements {@link KernelProfile}: every
     * {@code tripletLoss} call counts as one launch of 0.25 ms.
     */
    static Backend fakeProfiled(int[] tripletCalls) {
        ReferenceBackend ref = new ReferenceBackend(1);
        Map<String, KernelProfile.Stat> stats = new LinkedHashMap<>();
        return (Backend) Proxy.newProxyInstance(ProfileTest.class.getClassLoader(), new Class<?>[]{Backend.class, KernelProfile.class},
                (proxy, m, args) -> switch (m.getName()) {
                    case "profiling" -> true;
                    case "snapshot" -> Map.copyOf(stats);
                    case "reset" -> { stats.clear(); yield null; }
                    default -> {
                        if (m.getName().equals("tripletLoss")) {
                            tripletCalls[0]++;
                            stats.merge("tripletLoss", new KernelProfile.Stat(1, 0.25), (a, b) -> a.plus(1, 0.25));
                        }
                        try {
                            yield m.invoke(ref, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    }
                });
    }

    @Test
    void theProfilePassRunsAWarmUpThenTheIterationsOnAProfiledBackend() {
        int[] calls = {0};
        List<String> log = new ArrayList<>();
        Workloads.BackendFactory f = Workloads.BackendFactory.of(() -> new ReferenceBackend(1), () -> fakeProfiled(calls));
        Workloads.Options o = new Workloads.Options(false, 0, 0, ONE,
                new Workloads.Selection(Set.of(256), Set.of(Strategy.SEMIHARD), Set.of()), 3);
        List<BenchResult> r = Workloads.w1(f, o, log::add);
        assertEquals(1, r.size(), "only the selected case runs");
        BenchResult x = r.get(0);
        assertEquals("W1/semihard/P32xK8", x.key());
        assertEquals(4, calls[0], "one warm-up and three profiled iterations on the profiled backend");
        ProfileTable t = x.profile();
        assertNotNull(t, String.join("\n", log));
        assertEquals(3, t.iterations());
        assertEquals(1, t.rows().size());
        assertEquals("tripletLoss", t.rows().get(0).kernel());
        assertEquals(1.0, t.rows().get(0).launchesPerIteration(), "the warm-up is not counted");
        assertEquals(0.25, t.rows().get(0).msPerIteration(), 1e-12);
        assertTrue(log.stream().anyMatch(l -> l.contains("| tripletLoss | 1 | 0.250 |")), String.join("\n", log));
        @SuppressWarnings("unchecked") Map<String, Object> json = (Map<String, Object>) x.toMap().get("profile");
        assertEquals(3, json.get("iterations"));
    }

    @Test
    void aBackendWithoutAProfileSaysSoAndKeepsTheResult() {
        List<String> log = new ArrayList<>();
        Workloads.Options o = new Workloads.Options(false, 0, 0, ONE,
                new Workloads.Selection(Set.of(256), Set.of(Strategy.BATCH_HARD), Set.of()), 2);
        List<BenchResult> r = Workloads.w1(() -> new ReferenceBackend(1), o, log::add);
        assertEquals("ok", r.get(0).status());
        assertNull(r.get(0).profile());
        assertNull(r.get(0).toMap().get("profile"));
        assertTrue(log.stream().anyMatch(l -> l.contains("records no kernel profile")), String.join("\n", log));
    }

    @Test
    void tableSharesAndTotalsFollowTheSnapshot() {
        Map<String, KernelProfile.Stat> snap = new LinkedHashMap<>();
        snap.put("b", new KernelProfile.Stat(4, 2.0));
        snap.put("a", new KernelProfile.Stat(2, 6.0));
        ProfileTable t = ProfileTable.of("opencl", 2, 10.0, snap);   // 5 ms wall per iteration
        assertEquals("a", t.rows().get(0).kernel(), "largest time first");
        assertEquals(3.0, t.rows().get(0).msPerIteration(), 1e-12);
        assertEquals(0.6, t.rows().get(0).share(), 1e-12);
        assertEquals(2.0, t.rows().get(1).launchesPerIteration(), 1e-12);
        assertEquals(4.0, t.kernelMsPerIteration(), 1e-12);
        String md = t.markdown("W2/x/B8");
        assertTrue(md.contains("| a | 1 | 3.000 | 60.0% |"), md);
        assertTrue(md.contains("| **all kernels** | 3 | 4.000 | 80.0% |"), md);
        assertTrue(md.contains("| (outside kernels: host, copies, gaps) | | 1.000 | 20.0% |"), md);
        assertThrows(IllegalArgumentException.class, () -> ProfileTable.of("opencl", 0, 1, snap));
    }

    @Test
    void selectionsNameWhatIsWrong() {
        Workloads.Selection s = Workloads.Selection.parse("1800, 16384", "semihard,batch-hard", "fmnist-cnn");
        assertEquals(Set.of(1800, 16384), s.w1Batches());
        assertTrue(s.w1(1800, Strategy.BATCH_HARD) && !s.w1(1800, Strategy.BATCH_ALL) && !s.w1(4096, Strategy.SEMIHARD));
        assertTrue(s.w2("fmnist-cnn") && !s.w2("face-resnet10"));
        assertTrue(Workloads.Selection.parse(null, "", null).w1(256, Strategy.BATCH_ALL));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Workloads.Selection.parse("1000", null, null));
        assertTrue(e.getMessage().contains("1000") && e.getMessage().contains("1800"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Workloads.Selection.parse(null, null, "resnet50"));
        assertTrue(e.getMessage().contains("resnet50"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Workloads.Selection.parse(null, "hardest", null));
    }

    /** The whole command on OpenCL (PoCL here): the profile lands in the log, the JSON and the Markdown. */
    @Test
    void benchProfileOnOpenClWritesTheTables(@TempDir Path dir) throws Exception {
        Availability a = BenchBackends.probeAll().get("opencl");
        Assumptions.assumeTrue(a != null && a.available(), "OpenCL unavailable: " + a);
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        BenchCommand.Config cfg = new BenchCommand.Config("opencl", List.of("W1"), true, dir, 0, -1, 0, null,
                Workloads.Selection.parse("256", "semihard", null), 2, "fp32");
        int rc = BenchCommand.run(cfg, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, out);
        assertTrue(out.contains("kernel profile W1/semihard/P32xK8 (opencl, 2 iterations"), out);
        assertTrue(out.contains("| tripletLossMine | 1 |"), out);
        @SuppressWarnings("unchecked")
        Map<String, Object> doc = (Map<String, Object>) Json.parse(Files.readString(dir.resolve("semihard-opencl.json")));
        @SuppressWarnings("unchecked") List<Object> results = (List<Object>) doc.get("results");
        assertEquals(1, results.size());
        @SuppressWarnings("unchecked") Map<String, Object> p = (Map<String, Object>) ((Map<String, Object>) results.get(0)).get("profile");
        assertNotNull(p, doc.toString());
        @SuppressWarnings("unchecked") List<Object> kernels = (List<Object>) p.get("kernels");
        Set<String> names = new java.util.HashSet<>();
        for (Object k : kernels) names.add((String) ((Map<?, ?>) k).get("kernel"));
        // the launches of OpenClBackend.tripletLoss (squared L2: no row norms)
        assertEquals(Set.of("pairwiseDistanceForward", "tripletLossMine", "tripletLossReduce", "symmetrizeInPlace", "tripletLossBackward"),
                names, p.toString());
        assertTrue(((Number) p.get("kernel_ms_per_iteration")).doubleValue() > 0, p.toString());
        assertTrue(Files.readString(dir.resolve("semihard-opencl.md")).contains("| tripletLossBackward | 1 |"));
        assertTrue(((String) doc.get("command")).contains("--profile"), (String) doc.get("command"));
    }
}
