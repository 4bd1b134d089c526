package dev.semihard.trainer.ckpt;

import dev.semihard.engine.Tensor;
import dev.semihard.engine.mining.OfflineMiner;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.optim.Optimizer;
import dev.semihard.engine.optim.Optimizers;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class CheckpointTest {
    @TempDir
    Path tmp;
    final ReferenceBackend be = new ReferenceBackend(1);

    @AfterEach
    void close() { be.close(); }

    @Test
    void modelAndOptimizerRoundTrip() throws Exception {
        try (EmbeddingModel a = Models.create("fmnist-cnn", be, 1); EmbeddingModel b = Models.create("fmnist-cnn", be, 2)) {
            Optimizer oa = Optimizers.create("adam", a.parameters(), 1e-3f, 0);
            Checkpoint.save(tmp, a, oa, "adam", 12, 42L, null, "{\"x\":1}");
            assertTrue(Files.exists(tmp.resolve(Checkpoint.FILE)));
            assertTrue(Files.exists(tmp.resolve(Checkpoint.WEIGHTS)));
            Checkpoint.Loaded ck = Checkpoint.load(tmp.resolve(Checkpoint.FILE), "fmnist-cnn");
            assertEquals(12, ck.step());
            assertEquals(42L, ck.samplerState());
            assertEquals("{\"x\":1}", ck.config());
            Checkpoint.applyModel(ck, b);
            for (Map.Entry<String, Tensor> e : a.state().entrySet())
                assertArrayEquals(e.getValue().toArray(), b.state().get(e.getKey()).toArray(), e.getKey());
            Optimizer ob = Optimizers.create("adam", b.parameters(), 1e-3f, 0);
            Checkpoint.applyOptimizer(ck, ob, "adam");
            assertEquals(oa.stepCount(), ob.stepCount());
            // weights-only file: same tensors, no optimizer entries
            Checkpoint.Loaded w = Checkpoint.load(tmp.resolve(Checkpoint.WEIGHTS), null);
            assertTrue(w.optimizerState().isEmpty());
            assertEquals(a.state().keySet(), w.modelState().keySet());
        }
    }

    /** input_size and embedding_dim are in the metadata; a checkpoint written before input_size existed reads as the model's default. */
    @Test
    void inputSizeAndEmbeddingDimAreStoredAndOldCheckpointsGetTheDefaults() throws Exception {
        try (EmbeddingModel a = Models.create("face-resnet10", 112, 32, be, 1)) {
            Checkpoint.saveWeights(tmp.resolve("w.safetensors"), a, 3);
            Checkpoint.Loaded ck = Checkpoint.load(tmp.resolve("w.safetensors"), "face-resnet10");
            assertEquals("112", ck.metadata().get("input_size"));
            assertEquals(112, ck.inputSize());
            assertEquals(32, ck.embeddingDim());
        }
        LinkedHashMap<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        t.put("fc.bias", new SafeTensors.Entry(new int[] {1}, new float[] {1}));
        for (String model : new String[] {"face-resnet10", "fmnist-cnn"}) {
            SafeTensors.write(tmp.resolve("old.safetensors"), t, Map.of("format", Checkpoint.FORMAT, "format_version", "1", "model", model));
            Checkpoint.Loaded old = Checkpoint.load(tmp.resolve("old.safetensors"), null);
            assertEquals(Models.defaultInputSize(model), old.inputSize(), model);
            assertEquals(128, old.embeddingDim(), model);
        }
        SafeTensors.write(tmp.resolve("bad.safetensors"), t, Map.of("format", Checkpoint.FORMAT, "format_version", "2", "model", "face-resnet10",
                "input_size", "large"));
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(tmp.resolve("bad.safetensors"), null).inputSize());
        assertTrue(e.getMessage().contains("input_size") && e.getMessage().contains("large"), e.getMessage());
    }

    @Test
    void checkpointOfAnotherModelIsRefused() throws Exception {
        try (EmbeddingModel a = Models.create("fmnist-cnn", be, 1)) {
            Checkpoint.saveWeights(tmp.resolve("w.safetensors"), a, 3);
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> Checkpoint.load(tmp.resolve("w.safetensors"), "face-resnet10"));
            assertTrue(e.getMessage().contains("fmnist-cnn") && e.getMessage().contains("face-resnet10"), e.getMessage());
        }
    }

    @Test
    void checkpointWithMissingTensorsIsRefused() throws Exception {
        try (EmbeddingModel a = Models.create("fmnist-cnn", be, 1)) {
            LinkedHashMap<String, SafeTensors.Entry> t = new LinkedHashMap<>();
            t.put("conv1.weight", new SafeTensors.Entry(new int[] {1}, new float[] {1}));
            SafeTensors.write(tmp.resolve("x.safetensors"), t, Map.of("format", Checkpoint.FORMAT, "format_version", "1", "model", "fmnist-cnn"));
            Checkpoint.Loaded ck = Checkpoint.load(tmp.resolve("x.safetensors"), "fmnist-cnn");
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.applyModel(ck, a));
            assertTrue(e.getMessage().contains("lacks tensor"), e.getMessage());
        }
    }

    @Test
    void anotherFormatVersionIsRefused() throws Exception {
        LinkedHashMap<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        t.put("w", new SafeTensors.Entry(new int[] {1}, new float[] {1}));
        for (String v : new String[] {Integer.toString(Checkpoint.FORMAT_VERSION + 1), "0", "x"}) {
            SafeTensors.write(tmp.resolve("v.safetensors"), t, Map.of("format", Checkpoint.FORMAT, "format_version", v, "model", "fmnist-cnn"));
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(tmp.resolve("v.safetensors"), null));
            assertTrue(e.getMessage().contains("format version " + v) && e.getMessage().contains("use the semihard version that wrote it"),
                    e.getMessage());
        }
        // the versions this build reads: 1 (no offline-miner state) and the current one
        for (int v = Checkpoint.OLDEST_FORMAT_VERSION; v <= Checkpoint.FORMAT_VERSION; v++) {
            SafeTensors.write(tmp.resolve("v.safetensors"), t, Map.of("format", Checkpoint.FORMAT, "format_version", Integer.toString(v),
                    "model", "fmnist-cnn"));
            assertNull(Checkpoint.load(tmp.resolve("v.safetensors"), null).offlineMiner());
        }
        SafeTensors.write(tmp.resolve("other.safetensors"), t, Map.of("format", "pt"));
        CheckpointException o = assertThrows(CheckpointException.class, () -> Checkpoint.load(tmp.resolve("other.safetensors"), null));
        assertTrue(o.getMessage().contains("not a semihard checkpoint"), o.getMessage());
    }

    @Test
    void offlineMinerStateRoundTrips() throws Exception {
        List<OfflineMiner.Triplet> ts = List.of(new OfflineMiner.Triplet(3, 17_000_001, 5, 0.25, 1.5, false),
                new OfflineMiner.Triplet(4, 2, 9, 0.125, 0.0625, true));
        OfflineMiner.State st = new OfflineMiner.State(-7L, Long.MAX_VALUE, 12, 2, 128, false, ts, 1);
        try (EmbeddingModel a = Models.create("fmnist-cnn", be, 1)) {
            Optimizer oa = Optimizers.create("sgd", a.parameters(), 1e-2f, 0);
            Checkpoint.save(tmp, a, oa, "sgd", 12, 42L, st, null);
            Checkpoint.Loaded ck = Checkpoint.load(tmp.resolve(Checkpoint.FILE), "fmnist-cnn");
            assertEquals(st, ck.offlineMiner(), "indices beyond 2^24 exact (I32), distances exact here (they fit float32)");
            assertEquals(Integer.toString(Checkpoint.FORMAT_VERSION), ck.metadata().get("format_version"));
            assertEquals(a.state().keySet(), ck.modelState().keySet(), "the miner's tensors are not model tensors");
            Checkpoint.applyModel(ck, a);
            assertNull(Checkpoint.load(tmp.resolve(Checkpoint.WEIGHTS), null).offlineMiner(), "the weights file holds the model only");

            // the metadata without the tensors (or the reverse) is refused, naming the problem
            SafeTensors.Contents c = SafeTensors.read(tmp.resolve(Checkpoint.FILE));
            LinkedHashMap<String, SafeTensors.Entry> t = new LinkedHashMap<>(c.tensors());
            t.remove("offline_miner/distances");
            SafeTensors.write(tmp.resolve("bad.safetensors"), t, c.metadata());
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(tmp.resolve("bad.safetensors"), null));
            assertTrue(e.getMessage().contains("offline-miner state"), e.getMessage());
            Map<String, String> meta = new LinkedHashMap<>(c.metadata());
            meta.put("offline_miner", meta.get("offline_miner").replace("\"cursor\":1", "\"cursor\":3"));
            SafeTensors.write(tmp.resolve("bad.safetensors"), c.tensors(), meta);
            e = assertThrows(CheckpointException.class, () -> Checkpoint.load(tmp.resolve("bad.safetensors"), null));
            assertTrue(e.getMessage().contains("cursor 3"), e.getMessage());
        }
    }

    @Test
    void truncatedCheckpointIsRefused() throws Exception {
        try (EmbeddingModel a = Models.create("fmnist-cnn", be, 1)) {
            Checkpoint.saveWeights(tmp.resolve("w.safetensors"), a, 3);
            byte[] b = Files.readAllBytes(tmp.resolve("w.safetensors"));
            Files.write(tmp.resolve("t.safetensors"), Arrays.copyOf(b, b.length / 2));
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(tmp.resolve("t.safetensors"), "fmnist-cnn"));
            assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        }
    }
}
