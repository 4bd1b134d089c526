package dev.semihard.trainer.data;

import dev.semihard.trainer.util.Log;

import javax.imageio.ImageIO;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * Loads an image folder: one sub-folder per identity, each holding JPEG or PNG files (the LFW
 * layout). Every image is decoded with {@code javax.imageio} on a pool of threads, resized so its
 * shorter side matches the target, center-cropped to the model's input, and converted to gray
 * (luma) or RGB. Files that are not images or fail to decode are skipped with a warning and a
 * count, or stop the load when {@code strict}.
 */
public final class ImageFolder {
    private ImageFolder() {}

    /** What a load produced. */
    public record Result(Dataset dataset, int skipped, List<String> skippedFiles, int singletonIdentities) {}

    /** True when {@code dir} looks like an image folder (has a sub-directory). */
    public static boolean looksLikeImageFolder(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.anyMatch(Files::isDirectory);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Loads every identity sub-folder of {@code root}.
     *
     * @param channels 1 (gray) or 3 (RGB)
     * @param size     output height and width (square)
     * @param include  when not null, only these identity names are loaded
     */
    public static Result load(Path root, int channels, int size, boolean strict, java.util.Set<String> include,
                              String name, float mean, float std) {
        if (!Files.isDirectory(root)) throw new DataException("data folder not found: " + root);
        List<Path> idDirs;
        try (Stream<Path> s = Files.list(root)) {
            idDirs = s.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new DataException("cannot list data folder " + root + ": " + e.getMessage(), e);
        }
        if (idDirs.isEmpty())
            throw new DataException("data folder " + root + " is empty: expected one sub-folder per identity holding JPEG/PNG images"
                    + " (or Fashion-MNIST IDX files)");
        List<String> classNames = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        List<Integer> fileLabels = new ArrayList<>();
        for (Path d : idDirs) {
            String id = d.getFileName().toString();
            if (include != null && !include.contains(id)) continue;
            List<Path> fs;
            try (Stream<Path> s = Files.list(d)) {
                fs = s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
            } catch (IOException e) {
                throw new DataException("cannot list " + d + ": " + e.getMessage(), e);
            }
            if (fs.isEmpty()) continue;
            int label = classNames.size();
            classNames.add(id);
            for (Path f : fs) { files.add(f); fileLabels.add(label); }
        }
        if (files.isEmpty())
            throw new DataException("data folder " + root + " holds no image files in its identity sub-folders");

        int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "image-decode");
            t.setDaemon(true);
            return t;
        });
        int per = channels * size * size;
        List<Future<byte[]>> futures = new ArrayList<>(files.size());
        try {
            for (Path f : files) futures.add(pool.submit(() -> decode(f, channels, size)));
            List<byte[]> ok = new ArrayList<>();
            List<Integer> okLabels = new ArrayList<>();
            List<String> okPaths = new ArrayList<>();
            List<String> skipped = new ArrayList<>();
            for (int i = 0; i < files.size(); i++) {
                byte[] px;
                String why = null;
                try {
                    px = futures.get(i).get();
                    if (px == null) why = "not a readable JPEG/PNG image";
                } catch (java.util.concurrent.ExecutionException e) {
                    px = null;
                    why = e.getCause() == null ? e.toString() : e.getCause().toString();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new DataException("interrupted while loading " + root);
                }
                Path f = files.get(i);
                if (px == null) {
                    if (strict)
                        throw new DataException("cannot decode " + f + ": " + why + " (remove the file, or drop --strict to skip such files)");
                    skipped.add(f.toString());
                    continue;
                }
                ok.add(px);
                okLabels.add(fileLabels.get(i));
                okPaths.add(root.relativize(f).toString().replace('\\', '/'));
            }
            if (!skipped.isEmpty())
                Log.warn("skipped " + skipped.size() + " file(s) that are not decodable images in " + root
                        + ", e.g. " + skipped.get(0) + " (use --strict to stop instead)");
            if (ok.isEmpty()) throw new DataException("data folder " + root + " holds no decodable images");
            // identities may have lost all their images: relabel densely
            int[] remap = new int[classNames.size()];
            java.util.Arrays.fill(remap, -1);
            List<String> names = new ArrayList<>();
            int[] counts = new int[classNames.size()];
            for (int l : okLabels) counts[l]++;
            for (int c = 0; c < counts.length; c++) if (counts[c] > 0) { remap[c] = names.size(); names.add(classNames.get(c)); }
            byte[] pixels = new byte[ok.size() * per];
            int[] labels = new int[ok.size()];
            for (int i = 0; i < ok.size(); i++) {
                System.arraycopy(ok.get(i), 0, pixels, i * per, per);
                labels[i] = remap[okLabels.get(i)];
            }
            int singletons = 0;
            for (int c : counts) if (c == 1) singletons++;
            if (singletons > 0)
                Log.info(singletons + " identit" + (singletons == 1 ? "y has" : "ies have")
                        + " a single image: used only as negatives in training");
            Dataset ds = new MemoryDataset(name, channels, size, size, pixels, labels, names, okPaths, mean, std);
            return new Result(ds, skipped.size(), skipped, singletons);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Decodes, resizes (shorter side to {@code size}) and center-crops one file; null when not an image. */
    static byte[] decode(Path f, int channels, int size) throws IOException {
        BufferedImage img;
        try {
            img = ImageIO.read(f.toFile());
        } catch (IOException | RuntimeException e) {
            return null;
        }
        if (img == null) return null;
        if (img.getWidth() <= 0 || img.getHeight() <= 0) return null;
        return resizeCrop(img, channels, size);
    }

    /** Resize so the shorter side is {@code size} (bilinear), then take the centered size x size square. */
    public static byte[] resizeCrop(BufferedImage img, int channels, int size) {
        int w = img.getWidth(), h = img.getHeight();
        double s = (double) size / Math.min(w, h);
        int nw = Math.max(size, (int) Math.round(w * s)), nh = Math.max(size, (int) Math.round(h * s));
        BufferedImage rs = new BufferedImage(nw, nh, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = rs.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(img, 0, 0, nw, nh, null);
        g.dispose();
        int x0 = (nw - size) / 2, y0 = (nh - size) / 2;
        byte[] out = new byte[channels * size * size];
        int plane = size * size;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int rgb = rs.getRGB(x0 + x, y0 + y);
                int r = (rgb >> 16) & 0xff, gr = (rgb >> 8) & 0xff, b = rgb & 0xff;
                int o = y * size + x;
                if (channels == 1) {
                    out[o] = (byte) Math.round(0.299 * r + 0.587 * gr + 0.114 * b);
                } else {
                    out[o] = (byte) r;
                    out[plane + o] = (byte) gr;
                    out[2 * plane + o] = (byte) b;
                }
            }
        }
        return out;
    }
}
