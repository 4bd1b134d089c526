package dev.semihard.bench;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The workloads run end to end on the reference backend at tiny sizes and one timed run each. */
class WorkloadsTest {
    static final Timing.Plan ONE = new Timing.Plan(0, 1, 1, 1e-3);

    @Test
    void w1RunsEveryStrategyUpToTheCapAndSkipsTheRest() {
        {
            List<String> log = new ArrayList<>();
            List<BenchResult> r = Workloads.w1(() -> new ReferenceBackend(1), new Workloads.Options(false, 256, 0, ONE), log::add);
            assertEquals(Shapes.W1_PK.length * 3, r.size());
            for (BenchResult x : r) {
                int b = (Integer) x.params().get("B");
                if (b <= 256) {
                    assertEquals("ok", x.status(), x.key() + ": " + x.detail());
                    assertTrue(x.ms() > 0);
                    double loss = (Double) x.params().get("loss");
                    assertTrue(loss > 0 && loss < 1, "random unit rows, margin 0.2: loss " + loss);
                } else {
                    assertEquals("skipped", x.status(), x.key());
                }
            }
            assertTrue(r.get(0).key().equals("W1/semihard/P32xK8"), r.get(0).key());
        }
    }

    @Test
    void w2TrainsATinyBatchAndReportsImagesPerSecond() {
        {
            List<BenchResult> r = Workloads.w2(() -> new ReferenceBackend(1), new Workloads.Options(true, 0, 0, ONE),
                    List.of(new Shapes.TrainCase("fmnist-cnn", 8, 4, 2)), s -> {});
            assertEquals(1, r.size());
            BenchResult x = r.get(0);
            assertEquals("ok", x.status(), x.detail());
            assertEquals("W2/fmnist-cnn/B8", x.key());
            assertEquals("images/s", x.rateUnit());
            assertEquals(8 / (x.ms() / 1e3), x.rate(), 1e-9 * x.rate());
            assertNotNull(x.peakBytes());
            assertTrue(x.peakBytes() > 0);
        }
    }

    @Test
    void w3CountsThreeGemmsForwardAndBackward() {
        {
            List<BenchResult> r = Workloads.w3(() -> new ReferenceBackend(1), new Workloads.Options(false, 0, 1, ONE), s -> {});
            assertEquals(12, r.size());
            for (int i = 0; i < r.size(); i += 2) {
                BenchResult f = r.get(i), fb = r.get(i + 1);
                assertEquals("ok", f.status(), f.detail());
                assertEquals("ok", fb.status(), fb.detail());
                assertTrue(f.key().startsWith("W3/fwd/1x") && fb.key().startsWith("W3/fwdbwd/1x"), f.key() + " " + fb.key());
                assertEquals(3 * (Double) f.params().get("gflop"), (Double) fb.params().get("gflop"), 1e-12);
                assertEquals("GFLOP/s", f.rateUnit());
                // a fresh backend per case: the peak is this layer's own x, w, y, dy, dx, dw
                var g = Shapes.w3(i / 2, 1);
                long own = 4 * (2 * g.inputSize() + 2 * g.weightSize() + 2 * g.outputSize());
                assertEquals(own, (long) f.peakBytes(), f.key());
            }
        }
    }

    @Test
    void benchCommandWritesJsonAndMarkdown(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = BenchCommand.run(new BenchCommand.Config("reference", List.of("w1"), true, dir, 1, 256, 0, null),
                new PrintStream(buf, true, StandardCharsets.UTF_8));
        assertEquals(0, rc, buf.toString(StandardCharsets.UTF_8));
        String json = Files.readString(dir.resolve("semihard-reference.json"));
        assertTrue(json.contains("\"schema\": \"semihard-bench/1\""), json);
        assertTrue(json.contains("\"key\": \"W1/batch-all/P32xK8\""), json);
        assertTrue(json.contains("\"status\": \"skipped\""), json);
        String md = Files.readString(dir.resolve("semihard-reference.md"));
        assertEquals(Shapes.W1_PK.length * 3, md.lines().filter(l -> l.startsWith("| W1/")).count(), md);
    }

    @Test
    void anUnavailableBackendIsAClearExitCodeNotACrash(@TempDir Path dir) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = BenchCommand.run(new BenchCommand.Config("no-such-backend", List.of("W1"), true, dir, 1, -1, 0, null),
                new PrintStream(buf, true, StandardCharsets.UTF_8));
        assertEquals(2, rc);
        assertTrue(buf.toString(StandardCharsets.UTF_8).contains("no-such-backend"), buf.toString(StandardCharsets.UTF_8));
    }

    @Test
    void tf32OnABackendWithoutTensorCoresIsRefusedNotMislabelled(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = BenchCommand.run(new BenchCommand.Config("reference", List.of("W3"), true, dir, 1, -1, 0, null, null, 0, "tf32"),
                new PrintStream(buf, true, StandardCharsets.UTF_8));
        String log = buf.toString(StandardCharsets.UTF_8);
        assertEquals(1, rc, log);
        assertTrue(log.contains("no tf32 path") && log.contains("--backend cuda"), log);
        try (var files = Files.list(dir)) {
            assertEquals(0, files.count(), "no results written");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new BenchCommand.Config("reference", List.of("W3"), true, dir, 1, -1, 0, null, null, 0, "fp16"));
        assertTrue(e.getMessage().contains("fp16") && e.getMessage().contains("tf32"), e.getMessage());
    }

    @Test
    void unknownWorkloadsAreRejectedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Shapes.workloads(List.of("W1,W4")));
        assertTrue(e.getMessage().contains("W4"), e.getMessage());
        assertEquals(List.of("W1", "W3"), Shapes.workloads(List.of("w1, W3", "W1")));
    }

    @Test
    void timingTakesTheMedianAndHonoursTheRunCounts() {
        try (Backend be = new ReferenceBackend(1)) {
            int[] calls = {0};
            Timing t = Timing.measure(be, new Timing.Plan(2, 5, 5, 1e-6), () -> calls[0]++);
            assertEquals(7, calls[0]);
            assertEquals(5, t.runs());
            assertTrue(t.minMs() <= t.medianMs() && t.medianMs() <= t.maxMs());
        }
    }
}
