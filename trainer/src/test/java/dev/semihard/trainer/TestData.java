package dev.semihard.trainer;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.GZIPOutputStream;

/** Small synthetic data sets written to temporary folders for tests. */
public final class TestData {
    private TestData() {}

    /** IDX bytes of n images h x w (pixel = (i * 7 + y * w + x) mod 256) and n labels (i mod classes). */
    public static byte[][] idx(int n, int h, int w, int classes) {
        ByteBuffer im = ByteBuffer.allocate(16 + n * h * w);
        im.putInt(0x803).putInt(n).putInt(h).putInt(w);
        for (int i = 0; i < n; i++) for (int p = 0; p < h * w; p++) im.put((byte) ((i * 7 + p) & 0xff));
        ByteBuffer lb = ByteBuffer.allocate(8 + n);
        lb.putInt(0x801).putInt(n);
        for (int i = 0; i < n; i++) lb.put((byte) (i % classes));
        return new byte[][] {im.array(), lb.array()};
    }

    public static byte[] gzip(byte[] b) throws IOException {
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        try (OutputStream o = new GZIPOutputStream(bo)) { o.write(b); }
        return bo.toByteArray();
    }

    /** A Fashion-MNIST-like IDX folder (gzip) with 28 x 28 images of random-ish class patterns. */
    public static Path fmnistLike(Path dir, int nTrain, int nTest, int classes) throws IOException {
        Files.createDirectories(dir);
        write(dir, "train", nTrain, classes, 1);
        write(dir, "t10k", nTest, classes, 2);
        return dir;
    }

    private static void write(Path dir, String kind, int n, int classes, long seed) throws IOException {
        Random r = new Random(seed);
        ByteBuffer im = ByteBuffer.allocate(16 + n * 784);
        im.putInt(0x803).putInt(n).putInt(28).putInt(28);
        ByteBuffer lb = ByteBuffer.allocate(8 + n);
        lb.putInt(0x801).putInt(n);
        for (int i = 0; i < n; i++) {
            int c = i % classes;
            for (int p = 0; p < 784; p++) {
                int y = p / 28, x = p % 28;
                int base = ((x + y * c) % (c + 2) == 0) ? 140 : 110;
                im.put((byte) Math.min(255, Math.max(0, base + r.nextInt(160) - 80)));
            }
            lb.put((byte) c);
        }
        Files.write(dir.resolve(kind + "-images-idx3-ubyte.gz"), gzip(im.array()));
        Files.write(dir.resolve(kind + "-labels-idx1-ubyte.gz"), gzip(lb.array()));
    }

    /** An image folder: identities id0..id{k-1}, {@code per[i]} PNGs each (distinct colours). */
    public static Path imageFolder(Path root, int[] per) throws IOException {
        for (int i = 0; i < per.length; i++) {
            Path d = root.resolve("id" + i);
            Files.createDirectories(d);
            for (int j = 0; j < per[i]; j++) {
                BufferedImage img = new BufferedImage(40 + j, 30, BufferedImage.TYPE_INT_RGB);
                Graphics2D g = img.createGraphics();
                g.setColor(new Color((i * 60) % 256, (j * 40) % 256, 120));
                g.fillRect(0, 0, img.getWidth(), img.getHeight());
                g.dispose();
                ImageIO.write(img, j % 2 == 0 ? "png" : "jpg", d.resolve("id" + i + String.format("_%04d", j + 1) + (j % 2 == 0 ? ".png" : ".jpg")).toFile());
            }
        }
        return root;
    }
}
