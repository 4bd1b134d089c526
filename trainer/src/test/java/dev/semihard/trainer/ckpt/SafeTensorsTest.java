package dev.semihard.trainer.ckpt;

import dev.semihard.engine.util.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir
    Path tmp;

    private LinkedHashMap<String, SafeTensors.Entry> sample() {
        LinkedHashMap<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        t.put("conv1.weight", new SafeTensors.Entry(new int[] {2, 1, 2, 2}, new float[] {1, 2, 3, 4, 5, 6, 7, -0.5f}));
        t.put("bn1.running_mean", new SafeTensors.Entry(new int[] {2}, new float[] {0.25f, Float.MIN_VALUE}));
        return t;
    }

    @Test
    void roundTrip() throws Exception {
        Path f = tmp.resolve("a.safetensors");
        SafeTensors.write(f, sample(), Map.of("model", "fmnist-cnn", "step", "7"));
        SafeTensors.Contents c = SafeTensors.read(f);
        assertEquals(List.of("conv1.weight", "bn1.running_mean"), List.copyOf(c.tensors().keySet()));
        assertArrayEquals(new int[] {2, 1, 2, 2}, c.tensors().get("conv1.weight").shape());
        assertArrayEquals(sample().get("bn1.running_mean").data(), c.tensors().get("bn1.running_mean").data());
        assertEquals("7", c.metadata().get("step"));
    }

    /** The byte layout the safetensors library expects, decoded by hand (as Python's reader would). */
    @Test
    void byteLayoutFollowsTheSpec() throws Exception {
        Path f = tmp.resolve("b.safetensors");
        SafeTensors.write(f, sample(), Map.of("format_version", "1"));
        byte[] b = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + n) % 8, "data starts 8-byte aligned");
        Map<String, Object> h = Json.parseObject(new String(b, 8, (int) n, StandardCharsets.UTF_8).trim());
        @SuppressWarnings("unchecked") Map<String, Object> w = (Map<String, Object>) h.get("conv1.weight");
        assertEquals("F32", w.get("dtype"));
        assertEquals(List.of(0L, 32L), w.get("data_offsets"));
        @SuppressWarnings("unchecked") Map<String, Object> m = (Map<String, Object>) h.get("bn1.running_mean");
        assertEquals(List.of(32L, 40L), m.get("data_offsets"));
        assertEquals(Map.of("format_version", "1"), h.get("__metadata__"));
        assertEquals(8 + n + 40, b.length);
        float last = ByteBuffer.wrap(b, (int) (8 + n + 28), 4).order(ByteOrder.LITTLE_ENDIAN).getFloat();
        assertEquals(-0.5f, last);
    }

    @Test
    void int32TensorsRoundTripAndAreLaidOutAsI32() throws Exception {
        LinkedHashMap<String, SafeTensors.Entry> t = sample();
        t.put("idx", SafeTensors.Entry.ofInts(new int[] {2, 2}, new int[] {1, -2, 16_777_217, Integer.MAX_VALUE}));
        Path f = tmp.resolve("i.safetensors");
        SafeTensors.write(f, t, Map.of());
        SafeTensors.Entry back = SafeTensors.read(f).tensors().get("idx");
        assertEquals("I32", back.dtype());
        assertNull(back.data());
        assertArrayEquals(new int[] {1, -2, 16_777_217, Integer.MAX_VALUE}, back.ints());
        assertArrayEquals(new int[] {2, 2}, back.shape());
        byte[] b = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        Map<String, Object> h = Json.parseObject(new String(b, 8, (int) n, StandardCharsets.UTF_8).trim());
        @SuppressWarnings("unchecked") Map<String, Object> m = (Map<String, Object>) h.get("idx");
        assertEquals("I32", m.get("dtype"));
        assertEquals(List.of(40L, 56L), m.get("data_offsets"));
        assertEquals(16_777_217, ByteBuffer.wrap(b, (int) (8 + n + 48), 4).order(ByteOrder.LITTLE_ENDIAN).getInt());
        assertThrows(IllegalArgumentException.class, () -> new SafeTensors.Entry(new int[] {1}, new float[] {1}, new int[] {1}));
    }

    @Test
    void truncatedFilesAreDetected() throws Exception {
        Path f = tmp.resolve("c.safetensors");
        SafeTensors.write(f, sample(), Map.of());
        byte[] b = Files.readAllBytes(f);
        for (int cut : new int[] {4, 20, b.length - 1}) {
            Path t = tmp.resolve("cut" + cut);
            Files.write(t, Arrays.copyOf(b, cut));
            CheckpointException e = assertThrows(CheckpointException.class, () -> SafeTensors.read(t));
            assertTrue(e.getMessage().contains("truncated"), cut + ": " + e.getMessage());
        }
        Path junk = tmp.resolve("junk");
        Files.writeString(junk, "definitely not a checkpoint file at all");
        assertThrows(CheckpointException.class, () -> SafeTensors.read(junk));
    }

    @Test
    void atomicWriteLeavesNoTemporaryFiles() throws Exception {
        Path f = tmp.resolve("d.safetensors");
        SafeTensors.write(f, sample(), Map.of());
        SafeTensors.write(f, sample(), Map.of("x", "2"));
        try (var s = Files.list(tmp)) {
            assertEquals(List.of(f), s.toList());
        }
        assertEquals("2", SafeTensors.read(f).metadata().get("x"));
    }
}
