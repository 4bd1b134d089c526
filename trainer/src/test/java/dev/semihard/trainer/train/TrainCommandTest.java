package dev.semihard.trainer.train;

import dev.semihard.trainer.Main;
import dev.semihard.trainer.TestData;
import dev.semihard.trainer.ckpt.Checkpoint;
import dev.semihard.engine.util.Json;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Short real training runs of fmnist-cnn on the reference backend with tiny batches. */
class TrainCommandTest {
    @TempDir
    static Path shared;
    static Path data;

    @TempDir
    Path tmp;

    @BeforeAll
    static void makeData() throws Exception {
        data = TestData.fmnistLike(shared.resolve("fm"), 240, 60, 6);
    }

    static String[] tiny(Path runDir, String... more) {
        // two batch-norm recalibration batches instead of 100 keep these runs short (the feature has its own test)
        List<String> a = new ArrayList<>(List.of("train", "--backend", "reference", "--data", data.toString(), "-P", "3", "-K", "4",
                "--run-dir", runDir.toString(), "--quiet"));
        a.addAll(List.of(more));
        if (!a.contains("--bn-recalibrate")) a.addAll(List.of("--bn-recalibrate", "2"));
        return a.toArray(new String[0]);
    }

    static String[] run(String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int c = Main.run(new PrintWriter(o, true), new PrintWriter(e, true), args);
        return new String[] {Integer.toString(c), o.toString(), e.toString()};
    }

    @Test
    void trainLeavesACompleteRunFolder() throws Exception {
        Path rd = tmp.resolve("run");
        String[] r = run(tiny(rd, "--steps", "3", "--checkpoint-every", "2", "--eval-every", "2"));
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].contains("Recall@1"), r[1]);
        for (String f : new String[] {"config.json", "metrics.jsonl", "checkpoint.safetensors", "model.safetensors", "eval.json",
                "summary.json", "training.png", "roc.png", "distances.png"})
            assertTrue(Files.isRegularFile(rd.resolve(f)), f);
        List<String> lines = Files.readAllLines(rd.resolve("metrics.jsonl"));
        assertEquals(3, lines.size());
        List<String> evals = Files.readAllLines(rd.resolve("evals.jsonl"));
        assertEquals(1, evals.size(), "--eval-every 2 over 3 steps: one evaluation during training");
        assertEquals(2L, Json.parseObject(evals.get(0)).get("step"));
        Map<String, Object> l = Json.parseObject(lines.get(2));
        assertEquals(3L, l.get("step"));
        for (String k : new String[] {"loss", "active_fraction", "positive_pairs", "semihard_found", "fallbacks", "mean_dap", "mean_dan",
                "spread", "mean_norm", "lr", "images_per_s", "time_s", "grad_norm"})
            assertTrue(l.containsKey(k), k);
        assertEquals(3 * 4 * 3, ((Number) l.get("positive_pairs")).intValue(), "3 identities x 4 images x 3 positives: 36 ordered pairs");
        Map<String, Object> s = Json.parseObject(Files.readString(rd.resolve("summary.json")));
        Map<?, ?> ev = (Map<?, ?>) s.get("eval");
        double r1 = ((Number) ev.get("recall_at_1")).doubleValue();
        assertTrue(r1 >= 0 && r1 <= 1);
        assertEquals(3000L, ev.get("pairs_same"));
        byte[] png = Files.readAllBytes(rd.resolve("roc.png"));
        assertEquals((byte) 0x89, png[0]);
        assertEquals('P', png[1]);
        assertEquals(3, Checkpoint.load(rd.resolve(Checkpoint.FILE), "fmnist-cnn").step());

        // eval and embed on the result
        String[] ev2 = run("eval", "--backend", "reference", "--data", data.toString(), rd.toString(), "--out", tmp.resolve("ev").toString(), "--no-plots");
        assertEquals("0", ev2[0], ev2[2]);
        assertTrue(ev2[1].contains("VAL@FAR=1e-3"), ev2[1]);
        String[] em = run("embed", "--backend", "reference", "--data", data.toString(), rd.toString(), "--out", tmp.resolve("emb").toString(), "--limit", "10");
        assertEquals("0", em[0], em[2]);
        assertEquals(128 + 10 * 128 * 4, Files.size(tmp.resolve("emb/embeddings.npy")));

        // the same folder again without --resume is refused
        String[] again = run(tiny(rd, "--steps", "3"));
        assertEquals("2", again[0]);
        assertTrue(again[2].contains("--resume"), again[2]);
    }

    @Test
    void batchNormIsRecalibratedBeforeTheFinalEvaluationAndCheckpoint() throws Exception {
        Path off = tmp.resolve("bn-off"), on = tmp.resolve("bn-on");
        String[] r0 = run(tiny(off, "--steps", "3", "--bn-recalibrate", "0", "--no-plots"));
        assertEquals("0", r0[0], r0[2]);
        String[] r1 = run(tiny(on, "--steps", "3", "--bn-recalibrate", "4", "--no-plots"));
        assertEquals("0", r1[0], r1[2]);
        Map<String, float[]> a = Checkpoint.load(off.resolve(Checkpoint.FILE), "fmnist-cnn").modelState();
        Map<String, float[]> b = Checkpoint.load(on.resolve(Checkpoint.FILE), "fmnist-cnn").modelState();
        assertArrayEquals(a.get("conv1.weight"), b.get("conv1.weight"), "recalibration does not change training");
        assertFalse(java.util.Arrays.equals(a.get("bn4.running_var"), b.get("bn4.running_var")), "... but replaces the running statistics");
        Map<String, float[]> w = Checkpoint.load(on.resolve(Checkpoint.WEIGHTS), "fmnist-cnn").modelState();
        assertArrayEquals(b.get("bn4.running_var"), w.get("bn4.running_var"), "model.safetensors holds the recalibrated statistics");
        Map<String, Object> s0 = Json.parseObject(Files.readString(off.resolve("summary.json")));
        Map<String, Object> s1 = Json.parseObject(Files.readString(on.resolve("summary.json")));
        assertNull(s0.get("eval_before_bn_recalibration"));
        assertEquals(((Map<?, ?>) s0.get("eval")).get("recall_at_1"), ((Map<?, ?>) s1.get("eval_before_bn_recalibration")).get("recall_at_1"),
                "the figures before recalibration are those of a run without it");
        assertEquals(4L, ((Map<?, ?>) s1.get("config")).get("bn_recalibrate"));
        String[] bad = run(tiny(tmp.resolve("bn-bad"), "--bn-recalibrate", "-1"));
        assertEquals("2", bad[0]);
        assertTrue(bad[2].contains("--bn-recalibrate must be >= 0"), bad[2]);
    }

    /** An evaluation during training recalibrates a copy: the run's own statistics and weights do not change. */
    @Test
    void evaluatingDuringTrainingLeavesTheRunUnchanged() throws Exception {
        Path plain = tmp.resolve("ev-none"), evaluated = tmp.resolve("ev-2");
        assertEquals("0", run(tiny(plain, "--steps", "3", "--no-plots"))[0]);
        assertEquals("0", run(tiny(evaluated, "--steps", "3", "--eval-every", "1", "--no-plots"))[0]);
        assertEquals(2, Files.readAllLines(evaluated.resolve("evals.jsonl")).size());
        Checkpoint.Loaded a = Checkpoint.load(plain.resolve(Checkpoint.FILE), "fmnist-cnn");
        Checkpoint.Loaded b = Checkpoint.load(evaluated.resolve(Checkpoint.FILE), "fmnist-cnn");
        for (String k : a.modelState().keySet()) assertArrayEquals(a.modelState().get(k), b.modelState().get(k), k);
        for (String k : a.trainingBatchNorm().keySet())
            assertArrayEquals(a.trainingBatchNorm().get(k), b.trainingBatchNorm().get(k), "training-time " + k);
    }

    /** Extending a finished (recalibrated) run continues from the training-time batch-norm statistics. */
    @Test
    void extendingAFinishedRunEqualsTheLongerRun() throws Exception {
        Path longer = tmp.resolve("bn-long"), extended = tmp.resolve("bn-ext");
        assertEquals("0", run(tiny(longer, "--steps", "3", "--checkpoint-every", "2", "--no-plots"))[0]);
        assertEquals("0", run(tiny(extended, "--steps", "2", "--checkpoint-every", "2", "--no-plots"))[0]);
        Checkpoint.Loaded ended = Checkpoint.load(extended.resolve(Checkpoint.FILE), "fmnist-cnn");
        assertFalse(ended.trainingBatchNorm().isEmpty(), "a finished run keeps its training-time statistics");
        assertFalse(java.util.Arrays.equals(ended.trainingBatchNorm().get("bn1.running_mean"), ended.modelState().get("bn1.running_mean")));
        String[] r = run("train", "--resume", extended.toString(), "--steps", "3", "--backend", "reference", "--quiet");
        assertEquals("0", r[0], r[2]);
        Checkpoint.Loaded a = Checkpoint.load(longer.resolve(Checkpoint.FILE), "fmnist-cnn");
        Checkpoint.Loaded b = Checkpoint.load(extended.resolve(Checkpoint.FILE), "fmnist-cnn");
        for (String k : a.modelState().keySet()) assertArrayEquals(a.modelState().get(k), b.modelState().get(k), k);
        for (String k : a.trainingBatchNorm().keySet())
            assertArrayEquals(a.trainingBatchNorm().get(k), b.trainingBatchNorm().get(k), "training-time " + k);
    }

    @Test
    void nonFiniteGradientStopsNamingStepAndLayerAndKeepsTheCheckpoint() throws Exception {
        Path rd = tmp.resolve("nan");
        String[] r = run(tiny(rd, "--steps", "5", "--checkpoint-every", "2", "--debug-inject-nan", "3:conv1.weight", "--no-plots"));
        assertEquals("1", r[0], r[2]);
        assertTrue(r[2].contains("non-finite gradient at step 3 in layer conv1.weight"), r[2]);
        assertTrue(r[2].contains("step 2"), r[2]);
        Checkpoint.Loaded ck = Checkpoint.load(rd.resolve(Checkpoint.FILE), "fmnist-cnn");
        assertEquals(2, ck.step());
        for (float[] v : ck.modelState().values()) for (float x : v) assertTrue(Float.isFinite(x));

        Path rd2 = tmp.resolve("nanloss");
        String[] r2 = run(tiny(rd2, "--steps", "3", "--debug-inject-nan", "1", "--no-plots"));
        assertEquals("1", r2[0], r2[2]);
        // a NaN pixel: ReLU and max-pooling drop it in the forward pass, but the batch-norm statistics
        // carry it into every gradient, so the check after backward stops the run at that step
        assertTrue(r2[2].contains("non-finite") && r2[2].contains("at step 1"), r2[2]);
        assertTrue(r2[2].contains("no checkpoint was written yet"), r2[2]);
    }

    @Test
    void outOfMemorySaysWhichBatchSizeToTry() {
        String[] r = run(tiny(tmp.resolve("oom"), "--steps", "3", "--debug-inject-oom", "2", "--no-plots"));
        assertEquals("1", r[0], r[2]);
        assertTrue(r[2].contains("out of memory at step 2 with batch size 12"), r[2]);
        assertTrue(r[2].contains("-K 2") && r[2].contains("--two-pass-chunk"), r[2]);
    }

    @Test
    void deviceOutOfMemoryMessagesAreRecognized() {
        assertTrue(Trainer.isOom(new IllegalStateException("cuda: out of device memory: asked for 12.0 MiB")));
        assertTrue(Trainer.isOom(new IllegalStateException("opencl: out of device memory allocating 3 MiB (CL_MEM_OBJECT_ALLOCATION_FAILURE)")));
        assertTrue(Trainer.isOom(new RuntimeException("wrapped", new IllegalStateException("clEnqueueNDRangeKernel: CL_OUT_OF_RESOURCES"))));
        assertTrue(Trainer.isOom(new OutOfMemoryError("Java heap space")));
        assertFalse(Trainer.isOom(new IllegalArgumentException("conv2d: expected 1 channel, got 3")));
    }

    @Test
    void resumeCanExtendARun() throws Exception {
        Path rd = tmp.resolve("ext");
        assertEquals("0", run(tiny(rd, "--steps", "2", "--no-plots"))[0]);
        String[] r = run("train", "--resume", rd.toString(), "--steps", "3", "--backend", "reference", "--quiet");
        assertEquals("0", r[0], r[2]);
        List<String> lines = Files.readAllLines(rd.resolve("metrics.jsonl"));
        assertEquals(3, lines.size());
        assertEquals(3L, Json.parseObject(lines.get(2)).get("step"));
        assertEquals(3, Checkpoint.load(rd.resolve(Checkpoint.FILE), "fmnist-cnn").step());
        assertEquals(3L, Json.parseObject(Files.readString(rd.resolve("config.json"))).get("steps"), "the new length is remembered");
    }

    @Test
    void imageFolderWithCorruptFilesAndSingletons() throws Exception {
        Path root = tmp.resolve("faces");
        TestData.imageFolder(root.resolve("train"), new int[] {4, 4, 4, 1});
        TestData.imageFolder(root.resolve("test"), new int[] {3, 3, 3});
        Files.writeString(root.resolve("train/id0/corrupt.jpg"), "garbage");
        String[] r = run("train", "--backend", "reference", "--data", root.toString(), "-P", "2", "-K", "2", "--extra-negatives", "1",
                "--steps", "2", "--run-dir", tmp.resolve("run").toString(), "--no-plots");
        assertEquals("0", r[0], r[2]);
        String[] strict = run("train", "--backend", "reference", "--data", root.toString(), "-P", "2", "-K", "2", "--strict",
                "--steps", "2", "--run-dir", tmp.resolve("run2").toString());
        assertEquals("1", strict[0], strict[2]);
        assertTrue(strict[2].contains("corrupt.jpg"), strict[2]);
    }

    /**
     * A face model at --input-size 40 with --embedding-dim 16 on an image folder: the images are resized to 40x40,
     * the checkpoint says so, and eval, embed and --resume rebuild the same model from it.
     */
    @Test
    void faceModelWithInputSizeAndEmbeddingDim() throws Exception {
        Path root = tmp.resolve("faces");
        TestData.imageFolder(root.resolve("train"), new int[] {3, 3, 3});
        TestData.imageFolder(root.resolve("test"), new int[] {2, 2, 2});
        Path rd = tmp.resolve("face");
        String[] r = run("train", "--backend", "reference", "--model", "face-resnet10", "--input-size", "40", "--embedding-dim", "16",
                "--data", root.toString(), "-P", "2", "-K", "2", "--steps", "1", "--bn-recalibrate", "1", "--run-dir", rd.toString(),
                "--no-plots", "--quiet");
        assertEquals("0", r[0], r[2]);
        Checkpoint.Loaded ck = Checkpoint.load(rd.resolve(Checkpoint.FILE), "face-resnet10");
        assertEquals(40, ck.inputSize());
        assertEquals(16, ck.embeddingDim());
        assertEquals(16 * 256, ck.modelState().get("fc.weight").length);
        Map<String, Object> cfg = Json.parseObject(Files.readString(rd.resolve("config.json")));
        assertEquals(40L, cfg.get("input_size"));
        assertEquals(16L, cfg.get("embedding_dim"));

        String[] em = run("embed", "--backend", "reference", "--data", root.toString(), rd.toString(), "--out", tmp.resolve("emb").toString(),
                "--save-inputs");
        assertEquals("0", em[0], em[2]);
        assertEquals(128 + 6 * 16 * 4, Files.size(tmp.resolve("emb/embeddings.npy")), "6 test images x D = 16, float32");
        assertEquals(128 + 6 * 3 * 40 * 40 * 4, Files.size(tmp.resolve("emb/inputs.npy")), "the 6 images resized to 3 x 40 x 40");
        String[] ev = run("eval", "--backend", "reference", "--data", root.toString(), rd.toString(), "--out", tmp.resolve("ev").toString(), "--no-plots");
        assertEquals("0", ev[0], ev[2]);
        String[] res = run("train", "--resume", rd.toString(), "--steps", "2", "--backend", "reference", "--quiet");
        assertEquals("0", res[0], res[2]);
        assertEquals(2, Checkpoint.load(rd.resolve(Checkpoint.FILE), "face-resnet10").step());

        // fmnist-cnn takes 28x28 only; a face model refuses a size below 32: usage errors naming the fix
        String[][] cases = {   // options, then what the message must say
                {"--input-size", "32", "fmnist-cnn takes 28x28 images only; drop --input-size"},
                {"--model", "face-resnet18", "--input-size", "16", "--input-size 16: face-resnet18 takes square images of 32 to 512"},
                {"--embedding-dim", "0", "--embedding-dim 0: must be in [2, 2048]"}};
        for (String[] c : cases) {
            String[] bad = run(tiny(tmp.resolve("bad"), java.util.Arrays.copyOf(c, c.length - 1)));
            assertEquals("2", bad[0], bad[2]);
            assertTrue(bad[2].contains(c[c.length - 1]), bad[2]);
            assertFalse(Files.exists(tmp.resolve("bad")), "a refused run leaves no folder");
        }
    }

    @Test
    void twoPassAndOfflineMining() throws Exception {
        Path tp = tmp.resolve("twopass");
        String[] r = run(tiny(tp, "--steps", "2", "--two-pass-chunk", "5", "--no-plots"));
        assertEquals("0", r[0], r[2]);
        Map<String, Object> l = Json.parseObject(Files.readAllLines(tp.resolve("metrics.jsonl")).get(0));
        assertEquals(36L, ((Number) l.get("positive_pairs")).longValue(), "mining sees the whole batch of 12, not a chunk of 5");
        assertTrue(((Number) l.get("grad_norm")).doubleValue() > 0);

        Path off = tmp.resolve("offline");
        String[] o = run(tiny(off, "--steps", "3", "--offline-remine-every", "2", "--offline-pool", "40", "--no-plots"));
        assertEquals("0", o[0], o[2]);
        assertEquals(3, Files.readAllLines(off.resolve("metrics.jsonl")).size());
        Map<String, Object> ol = Json.parseObject(Files.readAllLines(off.resolve("metrics.jsonl")).get(0));
        assertEquals(4L, ((Number) ol.get("units")).longValue(), "B = 12 -> 4 explicit triplets per step");

        String[] both = run(tiny(tmp.resolve("both"), "--two-pass-chunk", "4", "--offline-remine-every", "2"));
        assertEquals("2", both[0], both[2]);
        assertTrue(both[2].contains("cannot be combined"), both[2]);
    }

    @Test
    void collapseWarning() {
        Trainer.CollapseWatch w = new Trainer.CollapseWatch(0.2f);
        String msg = null;
        for (int i = 0; i < 25 && msg == null; i++) msg = w.add(0.2f, 0.01f);
        assertNotNull(msg);
        assertTrue(msg.contains("collapsing"));
        Trainer.CollapseWatch ok = new Trainer.CollapseWatch(0.2f);
        for (int i = 0; i < 40; i++) assertNull(ok.add(0.1f, 0.5f));
    }
}
