package dev.semihard.trainer.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Writes NumPy {@code .npy} files (format version 1.0) that {@code numpy.load} reads: float32
 * matrices ({@code <f4}) and int64 vectors ({@code <i8}).
 */
public final class Npy {
    private Npy() {}

    /** Writes a float32 array of the given shape. */
    public static void writeFloat(Path file, float[] data, int... shape) throws IOException {
        check(data.length, shape);
        ByteBuffer b = header("<f4", shape, 4L * data.length);
        for (float v : data) b.putFloat(v);
        b.flip();
        AtomicFiles.write(file, ch -> AtomicFiles.writeFully(ch, b));
    }

    /** Writes an int64 vector. */
    public static void writeLong(Path file, int[] data) throws IOException {
        ByteBuffer b = header("<i8", new int[] {data.length}, 8L * data.length);
        for (int v : data) b.putLong(v);
        b.flip();
        AtomicFiles.write(file, ch -> AtomicFiles.writeFully(ch, b));
    }

    private static void check(long n, int[] shape) {
        long p = 1;
        for (int d : shape) p *= d;
        if (p != n) throw new IllegalArgumentException("npy: " + n + " values for shape " + java.util.Arrays.toString(shape));
    }

    private static ByteBuffer header(String descr, int[] shape, long dataBytes) {
        StringBuilder s = new StringBuilder("{'descr': '").append(descr).append("', 'fortran_order': False, 'shape': (");
        for (int i = 0; i < shape.length; i++) {
            s.append(shape[i]);
            if (shape.length == 1 || i < shape.length - 1) s.append(", ");
        }
        s.append("), }");
        int total = 10 + s.length() + 1;
        int pad = (64 - total % 64) % 64;
        s.append(" ".repeat(pad)).append('\n');
        byte[] h = s.toString().getBytes(StandardCharsets.US_ASCII);
        if (dataBytes + 10 + h.length > Integer.MAX_VALUE) throw new IllegalArgumentException("npy: array too large");
        ByteBuffer b = ByteBuffer.allocate((int) (10 + h.length + dataBytes)).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) h.length);
        b.put(h);
        return b;
    }
}
