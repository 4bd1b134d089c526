package dev.semihard.trainer.data;

import dev.semihard.bench.BenchBackends;
import dev.semihard.bench.BenchResult;
import dev.semihard.bench.Shapes;
import dev.semihard.bench.Workloads;
import dev.semihard.engine.Rng;
import dev.semihard.engine.mining.PKSampler;
import dev.semihard.engine.util.Json;

import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code semihard bench --workloads data}: is training input-bound? Measures the images/s the loader
 * delivers into the host batch buffer from a pack of 3 x 112 x 112 faces (random 96 x 96 crop, flip,
 * normalization; P x K batches of 256) with one thread and with every core, next to the images/s a
 * face-resnet10 training step consumes on the chosen backend (W2); also how long opening a pack of
 * 1,000,000 images takes (its index only; the shards are sparse files). Writes semihard-data.json / .md; the
 * synthetic packs go to the cache folder ({@link FolderCache#root()}/bench).
 */
public final class DataBench {
    private DataBench() {}

    static final int STORED = 112, CROP = 96, P = 16, K = 16;

    public static int run(String backend, int threads, boolean quick, Path outDir, PrintStream log) throws IOException {
        Files.createDirectories(outDir);
        int ids = quick ? 64 : 128, per = 32;
        Path work = FolderCache.root().resolve("bench");     // the synthetic packs: not in the results folder
        Path pack = work.resolve("data-bench-" + ids * per + ".pack");
        if (!PackedDataset.isPack(pack)) syntheticPack(pack, ids, per);
        PackedDataset data = PackedDataset.open(pack);
        int cores = Runtime.getRuntime().availableProcessors();
        List<Map<String, Object>> rows = new ArrayList<>();
        loaderRate(data, cores, quick ? 60 : 150);      // JIT warm-up of the loader's loops, not reported
        for (int t : cores > 1 ? new int[] {1, cores} : new int[] {1}) {
            double ips = loaderRate(data, t, quick ? 60 : 200);
            log.println(String.format(Locale.ROOT, "data: loader, %d thread(s): %,.0f images/s (3x%d crop + flip + normalize from %dx%d)",
                    t, ips, CROP, STORED, STORED));
            rows.add(row("loader " + t + " thread" + (t > 1 ? "s" : ""), ips, "pack " + data.size() + " images, B = " + P * K));
        }
        double open = openMillionIndex(work.resolve("data-bench-1m.pack"));
        log.println(String.format(Locale.ROOT, "data: opening a pack of 1,000,000 images (index only): %.3f s", open));
        Shapes.TrainCase c = quick ? new Shapes.TrainCase("face-resnet10", 16, 4, 4) : new Shapes.TrainCase("face-resnet10", P * K, P, K);
        Workloads.Options o = Workloads.Options.defaults(backend, quick);
        List<BenchResult> w2 = Workloads.w2(BenchBackends.factory(backend, threads, "fp32"), o, List.of(c), log::println);
        Double step = w2.isEmpty() ? null : w2.get(0).rate();
        if (step != null) {
            log.println(String.format(Locale.ROOT, "data: a face-resnet10 training step on %s consumes %,.0f images/s (B = %d)", backend, step, c.batch()));
            rows.add(row("face-resnet10 train step (" + backend + ")", step, "W2, B = " + c.batch()));
        }
        double all = (Double) rows.get(rows.size() - (step != null ? 2 : 1)).get("images_per_s");
        String verdict = step == null ? "no training rate measured" : all >= step
                ? String.format(Locale.ROOT, "not input-bound: the loader delivers %.1fx what the step consumes", all / step)
                : String.format(Locale.ROOT, "INPUT-BOUND: the loader delivers %.2fx what the step consumes", all / step);
        log.println("data: " + verdict);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("schema", "semihard-bench-data/1");
        doc.put("cores", cores);
        doc.put("backend", backend);
        doc.put("stored", "3x" + STORED + "x" + STORED);
        doc.put("crop", "3x" + CROP + "x" + CROP);
        doc.put("rows", rows);
        doc.put("open_1m_index_s", open);
        doc.put("verdict", verdict);
        Files.writeString(outDir.resolve("semihard-data.json"), Json.writePretty(doc) + "\n", StandardCharsets.UTF_8);
        StringBuilder md = new StringBuilder("| data workload | images/s | notes |\n| --- | ---: | --- |\n");
        for (Map<String, Object> r : rows)
            md.append(String.format(Locale.ROOT, "| %s | %,.0f | %s |%n", r.get("what"), (Double) r.get("images_per_s"), r.get("notes")));
        md.append(String.format(Locale.ROOT, "| open a 1,000,000-image pack (index only) | | %.3f s |%n", open));
        md.append("\n").append(verdict).append("\n");
        Files.writeString(outDir.resolve("semihard-data.md"), md.toString(), StandardCharsets.UTF_8);
        log.println();
        log.print(md);
        return 0;
    }

    /**
     * The memory sweep: {@code java -Xmx256m -cp ... dev.semihard.trainer.data.DataBench PACK BATCHES [THREADS]} loads
     * BATCHES P x K batches (crop + flip) from PACK (e.g. the sparse 35 GiB one {@link #openMillionIndex} writes) and prints the
     * Java heap and the resident set (anonymous and file pages, from /proc/self/status) as it goes: they stay flat
     * while the pack is far larger than the heap. {@code -Dsemihard.pack.io=pread} reads without mappings.
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 2) { System.err.println("usage: DataBench PACK BATCHES [THREADS]"); System.exit(2); }
        PackedDataset d = PackedDataset.open(Path.of(args[0]));
        int batches = Integer.parseInt(args[1]), threads = args.length > 2 ? Integer.parseInt(args[2]) : Runtime.getRuntime().availableProcessors();
        BatchLoader.IndexSampler<Long> sampler = pk(d);
        System.out.printf(Locale.ROOT, "pack %s: %d images, %.1f GiB; heap max %.0f MiB; io %s%n", args[0], d.size(),
                d.pixelBytes() / 1073741824.0, Runtime.getRuntime().maxMemory() / 1048576.0, PackFormat.positionalReads() ? "pread" : "mmap");
        long t0 = System.nanoTime();
        try (BatchLoader<Long> l = new BatchLoader<>(d, sampler, new Augment(true, 1), 1, 0, threads, 2 * threads + 2)
                .outputSize(Math.min(CROP, d.height()), Math.min(CROP, d.width())).recycleBuffers()) {
            for (int b = 1; b <= batches; b++) {
                l.next();
                if (b % Math.max(1, batches / 10) == 0 || b == batches) {
                    Runtime rt = Runtime.getRuntime();
                    System.out.printf(Locale.ROOT, "batch %6d: %.2f GiB read, %,.0f images/s, heap used %.0f MiB, %s%n", b,
                            (double) b * P * K * d.imageSize() / 1073741824.0, (double) b * P * K / ((System.nanoTime() - t0) / 1e9),
                            (rt.totalMemory() - rt.freeMemory()) / 1048576.0, rss());
                }
            }
        }
    }

    /** P x K batches of {@code d} as the loader's sampler. */
    static BatchLoader.IndexSampler<Long> pk(Dataset d) {
        return BatchLoader.of(new PKSampler(d.identities(), P, K, 0, 3));
    }

    private static String rss() {
        try {
            StringBuilder b = new StringBuilder();
            for (String l : Files.readAllLines(Path.of("/proc/self/status")))
                if (l.startsWith("VmRSS") || l.startsWith("RssAnon") || l.startsWith("RssFile"))
                    b.append(l.replaceAll("\\s+", " ")).append("  ");
            return b.toString().trim();
        } catch (IOException e) {
            return "(no /proc)";
        }
    }

    private static Map<String, Object> row(String what, double ips, String notes) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("what", what);
        m.put("images_per_s", Math.round(ips * 10) / 10.0);
        m.put("notes", notes);
        return m;
    }

    /** Images/s the loader delivers with {@code threads} workers (after a warm-up), batches of P x K with crop + flip. */
    static double loaderRate(Dataset data, int threads, int batches) {
        BatchLoader.IndexSampler<Long> sampler = pk(data);
        try (BatchLoader<Long> l = new BatchLoader<>(data, sampler, new Augment(true, 1), 1, 0, threads, 2 * threads + 2)
                .outputSize(CROP, CROP).recycleBuffers()) {
            for (int i = 0; i < Math.max(8, batches / 4); i++) l.next();
            long t0 = System.nanoTime();
            double check = 0;
            for (int i = 0; i < batches; i++) check += l.next().x()[i];
            double sec = (System.nanoTime() - t0) / 1e9;
            if (!Double.isFinite(check)) throw new IllegalStateException("non-finite pixels");
            return batches * (double) (P * K) / sec;
        }
    }

    /** A pack of random-textured 3 x 112 x 112 images, {@code ids} identities of {@code per} each. */
    static void syntheticPack(Path out, int ids, int per) {
        byte[] px = new byte[3 * STORED * STORED];
        Rng r = new Rng(5);
        try (PackWriter w = new PackWriter(out, 3, STORED, STORED, 0.5f, 0.5f, PackFormat.shardBytes(), true, "synthetic (semihard bench)")) {
            for (int i = 0; i < ids; i++)
                for (int j = 0; j < per; j++) {
                    for (int k = 0; k < px.length; k += 8) {
                        long v = r.nextLong();
                        for (int b = 0; b < 8 && k + b < px.length; b++) px[k + b] = (byte) (v >>> (8 * b));
                    }
                    w.add("id" + i, px, "id" + i + "/" + j + ".jpg");
                }
            w.commit();
        }
    }

    /**
     * Seconds to open a pack of 1,000,000 images of 3 x 112 x 112 in 100,000 identities: the index is real,
     * the 35 GiB of shards are sparse files (no disk used), since opening reads the index and checks sizes only.
     */
    static double openMillionIndex(Path dir) throws IOException {
        int n = 1_000_000, m = 100_000;
        long rec = 3L * STORED * STORED, perShard = (1L << 30) / rec;
        if (!PackedDataset.isPack(dir)) {
            PackWriter.deleteTree(dir);
            Files.createDirectories(dir);
            long[] starts = new long[m + 1];
            StringBuilder names = new StringBuilder();
            for (int i = 0; i < m; i++) { starts[i + 1] = (long) n * (i + 1) / m; names.append(i == 0 ? "" : "\n").append("person").append(i); }
            List<Map<String, Object>> shards = new ArrayList<>();
            for (long first = 0, s = 0; first < n; first += perShard, s++) {
                long cnt = Math.min(perShard, n - first);
                String f = PackFormat.shardName((int) s);
                try (RandomAccessFile raf = new RandomAccessFile(dir.resolve(f).toFile(), "rw")) { raf.setLength(cnt * rec); }
                Map<String, Object> sh = new LinkedHashMap<>();
                sh.put("file", f);
                sh.put("images", cnt);
                sh.put("bytes", cnt * rec);
                sh.put("crc32", 0L);
                shards.add(sh);
            }
            byte[] nm = names.toString().getBytes(StandardCharsets.UTF_8);
            Map<String, Object> h = PackFormat.header(3, STORED, STORED, 0.5f, 0.5f, "synthetic index, sparse shards (semihard bench)");
            h.put("images", (long) n);
            h.put("identities", m);
            h.put("shards", shards);
            h.put("names_bytes", nm.length);
            Files.write(dir.resolve(PackFormat.INDEX), PackFormat.encode(h, starts, nm));
        }
        long t0 = System.nanoTime();
        PackedDataset p = PackedDataset.open(dir);
        if (p.size() != n || p.numClasses() != m) throw new IllegalStateException("the million-image index reads back wrong");
        return (System.nanoTime() - t0) / 1e9;
    }
}
