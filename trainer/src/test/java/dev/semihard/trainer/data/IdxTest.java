package dev.semihard.trainer.data;

import dev.semihard.trainer.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class IdxTest {
    @TempDir
    Path tmp;

    @Test
    void readsRawAndGzipIdentically() throws Exception {
        byte[][] f = TestData.idx(5, 4, 3, 2);
        Files.write(tmp.resolve("a-images"), f[0]);
        Files.write(tmp.resolve("b-images"), TestData.gzip(f[0]));
        Idx.Array raw = Idx.read(tmp.resolve("a-images"), 3), gz = Idx.read(tmp.resolve("b-images"), 3);
        assertArrayEquals(new int[] {5, 4, 3}, raw.dims());
        assertArrayEquals(raw.data(), gz.data());
        assertEquals((byte) (2 * 7 + 5), raw.data()[2 * 12 + 5]);
    }

    @Test
    void loadsImagesWithLabels() throws Exception {
        byte[][] f = TestData.idx(6, 28, 28, 3);
        Files.write(tmp.resolve("i"), f[0]);
        Files.write(tmp.resolve("l"), f[1]);
        Dataset d = Idx.load(tmp.resolve("i"), tmp.resolve("l"), "t", 0.5f, 0.5f);
        assertEquals(6, d.size());
        assertEquals(3, d.numClasses());
        assertEquals(2, d.label(5));
        float[] x = new float[784];
        d.copyNormalized(0, x, 0);
        assertEquals(-1f, x[0], 1e-6); // pixel 0 -> (0 - 0.5) / 0.5
    }

    @Test
    void truncatedFileNamesTheProblem() throws Exception {
        byte[][] f = TestData.idx(10, 28, 28, 2);
        Files.write(tmp.resolve("t"), Arrays.copyOf(f[0], f[0].length - 100));
        DataException e = assertThrows(DataException.class, () -> Idx.read(tmp.resolve("t"), 3));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        // truncated gzip stream
        byte[] gz = TestData.gzip(f[0]);
        Files.write(tmp.resolve("t.gz"), Arrays.copyOf(gz, gz.length / 2));
        DataException e2 = assertThrows(DataException.class, () -> Idx.read(tmp.resolve("t.gz"), 3));
        assertTrue(e2.getMessage().contains("truncated"), e2.getMessage());
    }

    @Test
    void wrongMagicAndRank() throws Exception {
        Files.write(tmp.resolve("png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, 0, 0, 0});
        DataException e = assertThrows(DataException.class, () -> Idx.read(tmp.resolve("png"), 3));
        assertTrue(e.getMessage().contains("wrong magic"), e.getMessage());
        byte[][] f = TestData.idx(3, 2, 2, 2);
        Files.write(tmp.resolve("labels"), f[1]);
        DataException r = assertThrows(DataException.class, () -> Idx.read(tmp.resolve("labels"), 3));
        assertTrue(r.getMessage().contains("rank 1"), r.getMessage());
    }

    @Test
    void missingFile() {
        DataException e = assertThrows(DataException.class, () -> Idx.read(tmp.resolve("nope"), 3));
        assertTrue(e.getMessage().contains("not found"));
    }

    @Test
    void imageAndLabelCountsMustAgree() throws Exception {
        byte[][] a = TestData.idx(4, 2, 2, 2), b = TestData.idx(5, 2, 2, 2);
        Files.write(tmp.resolve("i"), a[0]);
        Files.write(tmp.resolve("l"), b[1]);
        DataException e = assertThrows(DataException.class, () -> Idx.load(tmp.resolve("i"), tmp.resolve("l"), "x", 0, 1));
        assertTrue(e.getMessage().contains("disagree"));
    }
}
