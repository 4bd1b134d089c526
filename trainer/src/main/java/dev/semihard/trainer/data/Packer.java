package dev.semihard.trainer.data;

import dev.semihard.trainer.train.Progress;
import dev.semihard.trainer.util.Log;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * {@code semihard pack}: turns an image folder (one sub-folder per identity; LFW's layout included, its
 * pairs.txt copied along) or an IDX folder into a pack. Images are decoded on every core, resized so
 * the shorter side is the stored size and center-cropped; a bounded window of decodes runs ahead of an
 * in-order writer, so the pack is the same whatever the thread count and memory stays bounded.
 */
public final class Packer {
    private Packer() {}

    /** What to pack and how. */
    public record Options(int channels, int size, boolean strict, int threads, long shardBytes, boolean force, String idxSplit) {}

    /** What a pack run did. */
    public record Result(Path pack, long images, int identities, int skipped, int emptyIdentities, double seconds) {
        public double imagesPerSecond() { return images / Math.max(1e-9, seconds); }
    }

    /** Packs {@code src} into {@code out}. */
    public static Result pack(Path src, Path out, Options o) {
        if (!Files.isDirectory(src)) throw new DataException("source folder not found: " + src + " (pass an image folder, an LFW folder or an IDX folder)");
        if (Idx.find(src, "train-images-idx3-ubyte") != null || Idx.find(src, "t10k-images-idx3-ubyte") != null) return packIdx(src, out, o);
        if (Files.isDirectory(src.resolve("train")) && Files.isDirectory(src.resolve("test")) && !Files.isRegularFile(src.resolve("pairs.txt")))
            throw new DataException(src + " holds train/ and test/ folders: pack each (semihard pack " + src.resolve("train") + " -o OUT/train,"
                    + " and the same for test) and pass --data OUT");
        if (!ImageFolder.looksLikeImageFolder(src))
            throw new DataException(src + " is empty or unrecognized: expected one sub-folder per identity holding JPEG/PNG images,"
                    + " or IDX files (train-images-idx3-ubyte[.gz], ...)");
        return packFolder(src, out, o);
    }

    private static Result packFolder(Path src, Path out, Options o) {
        long t0 = System.nanoTime();
        List<Path> idDirs = list(src, true);
        // a first pass counts the files (for the progress bar's ETA) and finds empty identity folders
        long total = 0;
        int empty = 0;
        for (Path d : idDirs) {
            int n = list(d, false).size();
            if (n == 0) empty++;
            total += n;
        }
        if (total == 0) throw new DataException("data folder " + src + " holds no image files in its identity sub-folders");
        if (empty > 0) Log.info(empty + " identity folder(s) of " + src + " are empty: left out");
        int threads = Math.max(1, o.threads());
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "pack-decode");
            t.setDaemon(true);
            return t;
        });
        record Job(String identity, Path file, Future<byte[]> px) {}
        ArrayDeque<Job> window = new ArrayDeque<>();
        int ahead = 4 * threads + 8;
        Counter c = new Counter(total);
        try (PackWriter w = new PackWriter(out, o.channels(), o.size(), o.size(), DataSources.FOLDER_MEAN, DataSources.FOLDER_STD,
                o.shardBytes(), o.force(), src.toAbsolutePath().toString())) {
            for (Path d : idDirs) {
                String id = d.getFileName().toString();
                for (Path f : list(d, false)) {
                    window.add(new Job(id, f, pool.submit(() -> ImageFolder.decode(f, o.channels(), o.size()))));
                    if (window.size() >= ahead) { Job j = window.poll(); write(w, src, j.identity(), j.file(), j.px(), o, c); }
                }
            }
            while (!window.isEmpty()) { Job j = window.poll(); write(w, src, j.identity(), j.file(), j.px(), o, c); }
            c.finish();
            Path pairs = src.resolve(PackFormat.PAIRS);
            if (Files.isRegularFile(pairs)) w.copyIn(pairs, PackFormat.PAIRS);
            int skipped = w.skippedCount();
            long images = w.images();
            int ids = w.identities();
            Path done = w.commit();
            if (skipped > 0)
                Log.warn("skipped " + skipped + " file(s) that are not decodable images; listed in " + done.resolve(PackFormat.SKIPPED));
            return new Result(done, images, ids, skipped, empty, (System.nanoTime() - t0) / 1e9);
        } finally {
            pool.shutdownNow();
        }
    }

    private static void write(PackWriter w, Path src, String identity, Path f, Future<byte[]> fut, Options o, Counter c) {
        byte[] px;
        String why = "not a readable JPEG/PNG image";
        try {
            px = fut.get();
        } catch (ExecutionException e) {
            px = null;
            why = String.valueOf(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DataException("interrupted while packing " + src);
        }
        String rel = src.relativize(f).toString().replace('\\', '/');
        if (px == null) {
            if (o.strict())
                throw new DataException("cannot decode " + f + ": " + why + " (remove the file, or drop --strict to skip such files)");
            w.skip(rel, why);
        } else {
            w.add(identity, px, rel);
        }
        c.step(w.skippedCount());
    }

    private static Result packIdx(Path src, Path out, Options o) {
        long t0 = System.nanoTime();
        String split = o.idxSplit() == null ? "train" : o.idxSplit();
        Path im = Idx.find(src, split + "-images-idx3-ubyte"), lb = Idx.find(src, split + "-labels-idx1-ubyte");
        if (im == null || lb == null)
            throw new DataException("IDX folder " + src + " has no " + split + "-images-idx3-ubyte[.gz] and " + split + "-labels-idx1-ubyte[.gz]"
                    + " (--idx-split train or t10k)");
        Dataset d = Idx.load(im, lb, split, DataSources.FMNIST_MEAN, DataSources.FMNIST_STD);
        if (o.channels() != 1 || (o.size() > 0 && o.size() != d.height()))
            throw new DataException("IDX images are 1x" + d.height() + "x" + d.width() + " and are packed as they are: drop --channels/--size");
        // images sorted by label (stable): each identity's images are contiguous
        var ids = d.identities();
        int m = ids.identities();
        Integer[] order = new Integer[m];
        for (int i = 0; i < m; i++) order[i] = i;
        java.util.Arrays.sort(order, java.util.Comparator.comparingInt(ids::label));
        byte[] px = new byte[d.imageSize()];
        Counter c = new Counter(d.size());
        try (PackWriter w = new PackWriter(out, 1, d.height(), d.width(), d.mean(), d.std(), o.shardBytes(), o.force(), im.toAbsolutePath().toString())) {
            for (int id : order)
                for (int j = 0; j < ids.count(id); j++) {
                    int i = ids.image(id, j);
                    d.readImage(i, px, 0);
                    w.add(Integer.toString(ids.label(id)), px, im.getFileName() + "#" + i);
                    c.step(0);
                }
            c.finish();
            long n = w.images();
            Path done = w.commit();
            return new Result(done, n, m, 0, 0, (System.nanoTime() - t0) / 1e9);
        }
    }

    /** Sorted sub-folders ({@code dirs}) or non-hidden regular files of {@code d}. */
    static List<Path> list(Path d, boolean dirs) {
        try (Stream<Path> s = Files.list(d)) {
            return s.filter(p -> dirs ? Files.isDirectory(p) : Files.isRegularFile(p) && !p.getFileName().toString().startsWith("."))
                    .filter(p -> !dirs || !p.getFileName().toString().startsWith("."))
                    .sorted().toList();
        } catch (IOException e) {
            throw new DataException("cannot list " + d + ": " + e.getMessage(), e);
        }
    }

    /** The progress line: images done, images/s, ETA, skipped. */
    private static final class Counter {
        private final long total;
        private final long t0 = System.nanoTime();
        private final boolean tty = System.console() != null && !"dumb".equals(System.getenv("TERM"));
        private long done, last;
        private int skipped;

        Counter(long total) { this.total = total; }

        void step(int skippedSoFar) {
            done++;
            skipped = skippedSoFar;
            long now = System.nanoTime();
            if (now - last > (tty ? 200_000_000L : 5_000_000_000L)) { last = now; print(false); }
        }

        void finish() { print(true); }

        private void print(boolean end) {
            double s = (System.nanoTime() - t0) / 1e9, rate = done / Math.max(1e-9, s);
            int width = 24, filled = (int) Math.round(width * (double) done / Math.max(1, total));
            String bar = "=".repeat(Math.max(0, filled - 1)) + (filled > 0 ? ">" : "") + " ".repeat(width - filled);
            String line = String.format(Locale.ROOT, "packing %d/%d [%s] %.0f images/s  ETA %s%s", done, total, bar, rate,
                    Progress.eta((total - done) / Math.max(1e-9, rate)), skipped > 0 ? "  " + skipped + " skipped" : "");
            if (Log.quiet) return;
            if (tty) Log.out.print("\r" + line + (end ? "\n" : "   "));
            else Log.out.println(line);
            Log.out.flush();
        }
    }
}
