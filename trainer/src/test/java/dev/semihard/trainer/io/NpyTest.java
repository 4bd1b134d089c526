package dev.semihard.trainer.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class NpyTest {
    @TempDir
    Path tmp;

    @Test
    void floatMatrixHeaderAndData() throws Exception {
        Path f = tmp.resolve("e.npy");
        Npy.writeFloat(f, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        byte[] b = Files.readAllBytes(f);
        assertEquals((byte) 0x93, b[0]);
        assertEquals("NUMPY", new String(b, 1, 5, StandardCharsets.US_ASCII));
        int hl = ByteBuffer.wrap(b, 8, 2).order(ByteOrder.LITTLE_ENDIAN).getShort();
        assertEquals(0, (10 + hl) % 64, "header padded to 64 bytes");
        String h = new String(b, 10, hl, StandardCharsets.US_ASCII);
        assertTrue(h.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), h);
        assertTrue(h.endsWith("\n"));
        assertEquals(10 + hl + 24, b.length);
        assertEquals(6f, ByteBuffer.wrap(b, 10 + hl + 20, 4).order(ByteOrder.LITTLE_ENDIAN).getFloat());
    }

    @Test
    void longVectorHasATupleShape() throws Exception {
        Path f = tmp.resolve("l.npy");
        Npy.writeLong(f, new int[] {7, 8, 9});
        byte[] b = Files.readAllBytes(f);
        int hl = ByteBuffer.wrap(b, 8, 2).order(ByteOrder.LITTLE_ENDIAN).getShort();
        assertTrue(new String(b, 10, hl, StandardCharsets.US_ASCII).contains("'descr': '<i8'") );
        assertTrue(new String(b, 10, hl, StandardCharsets.US_ASCII).contains("'shape': (3, )"));
        assertEquals(9L, ByteBuffer.wrap(b, 10 + hl + 16, 8).order(ByteOrder.LITTLE_ENDIAN).getLong());
    }
}
