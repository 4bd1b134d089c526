package dev.semihard.trainer.data;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reader for the IDX format of MNIST / Fashion-MNIST, raw or gzip-compressed (detected from the
 * first two bytes, not the file name). Header: magic {@code 0x00 0x00 type rank} (type 0x08 =
 * unsigned byte), then {@code rank} big-endian int32 dimensions, then the data.
 */
public final class Idx {
    private Idx() {}

    /** Parsed file: dimensions and unsigned-byte data. */
    public record Array(int[] dims, byte[] data) {
        public int count() { return dims[0]; }
    }

    /** Reads an IDX file of unsigned bytes with the expected rank (3 for images, 1 for labels). */
    public static Array read(Path file, int expectedRank) {
        if (!Files.isRegularFile(file)) throw new DataException("IDX file not found: " + file);
        byte[] all;
        try {
            all = readAll(file);
        } catch (EOFException | ZipException e) {
            throw new DataException("IDX file " + file + " is truncated or not valid gzip (" + e.getMessage()
                    + "); download it again", e);
        } catch (IOException e) {
            throw new DataException("cannot read IDX file " + file + ": " + e.getMessage(), e);
        }
        return parse(all, expectedRank, file.toString());
    }

    /** Parses IDX bytes (already decompressed); {@code what} names the source in error messages. */
    public static Array parse(byte[] all, int expectedRank, String what) {
        if (all.length < 4) throw new DataException("IDX file " + what + " is truncated: " + all.length + " bytes, no header");
        if (all[0] != 0 || all[1] != 0)
            throw new DataException(String.format("%s is not an IDX file: wrong magic %02x %02x %02x %02x (expected 00 00 08 %02x)",
                    what, all[0], all[1], all[2], all[3], expectedRank));
        int type = all[2] & 0xff, rank = all[3] & 0xff;
        if (type != 0x08)
            throw new DataException(String.format("IDX file %s holds element type 0x%02x; only unsigned bytes (0x08) are supported", what, type));
        if (rank != expectedRank)
            throw new DataException("IDX file " + what + " has rank " + rank + ", expected " + expectedRank
                    + (expectedRank == 3 ? " (images N x H x W)" : " (labels N)") + ": images and labels swapped?");
        if (all.length < 4 + 4 * rank) throw new DataException("IDX file " + what + " is truncated inside its header");
        int[] dims = new int[rank];
        long n = 1;
        for (int r = 0; r < rank; r++) {
            int o = 4 + 4 * r;
            dims[r] = ((all[o] & 0xff) << 24) | ((all[o + 1] & 0xff) << 16) | ((all[o + 2] & 0xff) << 8) | (all[o + 3] & 0xff);
            if (dims[r] < 0) throw new DataException("IDX file " + what + " has a negative dimension");
            n *= dims[r];
        }
        int off = 4 + 4 * rank;
        long have = all.length - off;
        if (have < n)
            throw new DataException("IDX file " + what + " is truncated: its header promises " + n + " bytes of data ("
                    + java.util.Arrays.toString(dims) + ") but only " + have + " are present; download it again");
        if (n > Integer.MAX_VALUE - 16) throw new DataException("IDX file " + what + " is too large");
        byte[] data = new byte[(int) n];
        System.arraycopy(all, off, data, 0, (int) n);
        return new Array(dims, data);
    }

    private static byte[] readAll(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return readAll(in);
        }
    }

    /** Reads a whole stream, un-gzipping it when it starts with the gzip magic (1f 8b). */
    public static byte[] readAll(InputStream in0) throws IOException {
        InputStream raw = new BufferedInputStream(in0);
        raw.mark(2);
        int b0 = raw.read(), b1 = raw.read();
        raw.reset();
        InputStream in = (b0 == 0x1f && b1 == 0x8b) ? new GZIPInputStream(raw, 1 << 16) : raw;
        ByteArrayOutputStream out = new ByteArrayOutputStream(1 << 20);
        in.transferTo(out);
        return out.toByteArray();
    }

    /** Finds {@code base} or {@code base.gz} in {@code dir}; null when neither exists. */
    public static Path find(Path dir, String base) {
        for (String n : new String[] {base, base + ".gz", base.replace("-idx", ".idx"), base.replace("-idx", ".idx") + ".gz"}) {
            Path p = dir.resolve(n);
            if (Files.isRegularFile(p)) return p;
        }
        return null;
    }

    /** Loads an image file and its label file as a dataset (1 channel). */
    public static Dataset load(Path images, Path labels, String name, float mean, float std) {
        Array im = read(images, 3);
        Array lb = read(labels, 1);
        if (im.count() != lb.count())
            throw new DataException("IDX files disagree: " + images + " holds " + im.count() + " images but " + labels
                    + " holds " + lb.count() + " labels");
        if (im.count() == 0) throw new DataException("IDX file " + images + " holds no images");
        int[] lab = new int[lb.count()];
        int max = 0;
        for (int i = 0; i < lab.length; i++) { lab[i] = lb.data()[i] & 0xff; max = Math.max(max, lab[i]); }
        java.util.List<String> names = new java.util.ArrayList<>();
        for (int i = 0; i <= max; i++) names.add(Integer.toString(i));
        return new MemoryDataset(name, 1, im.dims()[1], im.dims()[2], im.data(), lab, names, null, mean, std);
    }
}
