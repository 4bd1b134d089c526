package dev.semihard.trainer.data;

import dev.semihard.engine.Rng;
import dev.semihard.trainer.util.Log;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds the training and evaluation data.
 *
 * <ol>
 *   <li>{@code --data DIR} holding IDX files (train-images-idx3-ubyte[.gz], ...): Fashion-MNIST style.</li>
 *   <li>{@code --data DIR} holding {@code pairs.txt} and identity sub-folders: the LFW layout; training
 *       uses the identities that no pair names, evaluation the pairs (and every image of their identities).</li>
 *   <li>{@code --data DIR} with {@code train/} and {@code test/} image folders, or one image folder whose
 *       identities are split 80/20 with a fixed seed (disjoint identities, as in face verification).</li>
 *   <li>No {@code --data}: {@link #SYSTEM_FMNIST} (Debian's dataset-fashion-mnist), else the small
 *       subset embedded in the jar, with a line saying how to get the full set.</li>
 * </ol>
 */
public final class DataSources {
    private DataSources() {}

    /** Where Debian's {@code dataset-fashion-mnist} package puts the files. */
    public static final Path SYSTEM_FMNIST = Path.of("/usr/share/datasets/fashion-mnist");
    /** Normalization of recipe Q (docs/benchmarks.md). */
    public static final float FMNIST_MEAN = 0.2860f, FMNIST_STD = 0.3530f;
    /** Normalization of image folders: pixels / 255 to [-1, 1]. */
    public static final float FOLDER_MEAN = 0.5f, FOLDER_STD = 0.5f;
    static final String EMBEDDED = "/fmnist-mini/";

    /**
     * Training and evaluation sets.
     *
     * @param pairs the evaluation pairs from pairs.txt, or null to draw them with {@link Pairs#PAIR_SEED}
     */
    public record Data(Dataset train, Dataset test, List<Pairs.Pair> pairs, String description, boolean embedded) {}

    /** Overrides {@link #SYSTEM_FMNIST} (tests). */
    public static volatile Path systemFmnist = SYSTEM_FMNIST;

    /**
     * Resolves {@code dataDir} (null: the default Fashion-MNIST) for a model taking {@code inputShape}
     * = {C, H, W}.
     */
    public static Data resolve(Path dataDir, int[] inputShape, boolean strict) {
        if (dataDir == null) {
            Path sys = systemFmnist;
            if (sys != null && Idx.find(sys, "train-images-idx3-ubyte") != null) return checkShape(loadIdxDir(sys), inputShape);
            Data d = embedded();
            Log.warn("Fashion-MNIST not found at " + sys + ": using the small subset embedded in the jar ("
                    + d.train().size() + " train, " + d.test().size() + " test images). For the full set run "
                    + "'sudo apt-get install dataset-fashion-mnist' or pass --data DIR.");
            return checkShape(d, inputShape);
        }
        if (!Files.exists(dataDir)) throw new DataException("data folder not found: " + dataDir + " (check --data)");
        if (!Files.isDirectory(dataDir)) throw new DataException("--data must be a folder, got the file " + dataDir);
        if (PackedDataset.isPack(dataDir)) return fromPack(PackedDataset.open(dataDir), inputShape, "pack " + dataDir);
        if (PackedDataset.isPack(dataDir.resolve("train")) && PackedDataset.isPack(dataDir.resolve("test"))) {
            PackedDataset tr = checkPack(PackedDataset.open(dataDir.resolve("train")), inputShape);
            PackedDataset te = checkPack(PackedDataset.open(dataDir.resolve("test")), inputShape);
            Path pairs = te.dir().resolve(PackFormat.PAIRS);
            List<Pairs.Pair> ps = Files.isRegularFile(pairs) ? Pairs.readLfw(pairs, pathIndex(te)) : null;
            return new Data(tr, te, ps, "packs " + dataDir + "/{train,test}", false);
        }
        if (Idx.find(dataDir, "train-images-idx3-ubyte") != null) return checkShape(loadIdxDir(dataDir), inputShape);
        int c = inputShape[0], size = inputShape[1];
        if (inputShape[1] != inputShape[2]) throw new IllegalArgumentException("image folders need a square model input");
        // image folders are packed once into a cache (FolderCache) and read from the pack
        Path pairs = dataDir.resolve("pairs.txt");
        if (Files.isRegularFile(pairs))
            return loadLfw(FolderCache.pack(dataDir, c, size, strict), pairs, "LFW layout " + dataDir + " with pairs.txt");
        if (Files.isDirectory(dataDir.resolve("train")) && Files.isDirectory(dataDir.resolve("test"))) {
            Dataset tr = FolderCache.pack(dataDir.resolve("train"), c, size, strict);
            Dataset te = FolderCache.pack(dataDir.resolve("test"), c, size, strict);
            return new Data(tr, te, null, "image folders " + dataDir + "/{train,test}", false);
        }
        if (!ImageFolder.looksLikeImageFolder(dataDir)) {
            throw new DataException("data folder " + dataDir + " is empty or unrecognized: expected a pack (index.bin, from 'semihard pack'),"
                    + " Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...), or one sub-folder"
                    + " per identity holding JPEG/PNG images");
        }
        return splitByIdentity(FolderCache.pack(dataDir, c, size, strict), 0.2, "image folder " + dataDir);
    }

    /** A pack given to --data: LFW-style when it holds pairs.txt, else its identities split 80/20. */
    static Data fromPack(PackedDataset p, int[] inputShape, String desc) {
        checkPack(p, inputShape);
        Path pairs = p.dir().resolve(PackFormat.PAIRS);
        if (Files.isRegularFile(pairs)) return loadLfw(p, pairs, desc + " with pairs.txt");
        return splitByIdentity(p, 0.2, desc);
    }

    /** The pack's channels must be the model's, and its stored size at least the model's input (the rest is crop margin). */
    static PackedDataset checkPack(PackedDataset p, int[] inputShape) {
        if (p.channels() != inputShape[0] || p.height() < inputShape[1] || p.width() < inputShape[2])
            throw new DataException("pack " + p.dir() + " holds " + p.shapeString() + " images but the model takes " + inputShape[0] + "x"
                    + inputShape[1] + "x" + inputShape[2] + ": re-create it with 'semihard pack SRC -o OUT --channels " + inputShape[0]
                    + " --size " + Math.max(inputShape[1], inputShape[2]) + "' (or larger: the margin is used for random crops), or choose"
                    + " the model that fits");
        return p;
    }

    private static Map<String, Integer> pathIndex(Dataset all) {
        Map<String, Integer> index = new HashMap<>();
        List<String> paths = all.paths();
        for (int i = 0; i < all.size(); i++) index.put(paths.get(i), i);
        return index;
    }

    /** Loads train-* and t10k-* IDX files from a folder. */
    public static Data loadIdxDir(Path dir) {
        Path ti = Idx.find(dir, "train-images-idx3-ubyte"), tl = Idx.find(dir, "train-labels-idx1-ubyte");
        Path si = Idx.find(dir, "t10k-images-idx3-ubyte"), sl = Idx.find(dir, "t10k-labels-idx1-ubyte");
        if (ti == null || tl == null)
            throw new DataException("IDX folder " + dir + " needs train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]");
        Dataset train = Idx.load(ti, tl, "train", FMNIST_MEAN, FMNIST_STD);
        if (si == null || sl == null) {
            Log.warn("no t10k-* test files in " + dir + ": evaluating on a held-out 1/6 of the training images");
            return split(train, 1.0 / 6, "IDX " + dir);
        }
        Dataset test = Idx.load(si, sl, "test", FMNIST_MEAN, FMNIST_STD);
        return new Data(train, test, null, "IDX " + dir, false);
    }

    /** The Fashion-MNIST subset shipped in the jar. */
    public static Data embedded() {
        Dataset train = Idx2.load(EMBEDDED + "train-images-idx3-ubyte.gz", EMBEDDED + "train-labels-idx1-ubyte.gz", "train-mini");
        Dataset test = Idx2.load(EMBEDDED + "t10k-images-idx3-ubyte.gz", EMBEDDED + "t10k-labels-idx1-ubyte.gz", "test-mini");
        return new Data(train, test, null, "embedded Fashion-MNIST subset", true);
    }

    private static final class Idx2 {
        static Dataset load(String images, String labels, String name) {
            Idx.Array im = res(images, 3), lb = res(labels, 1);
            int[] lab = new int[lb.count()];
            for (int i = 0; i < lab.length; i++) lab[i] = lb.data()[i] & 0xff;
            List<String> names = new ArrayList<>();
            for (int i = 0; i < 10; i++) names.add(Integer.toString(i));
            return new MemoryDataset(name, 1, im.dims()[1], im.dims()[2], im.data(), lab, names, null, FMNIST_MEAN, FMNIST_STD);
        }

        static Idx.Array res(String path, int rank) {
            try (InputStream in = DataSources.class.getResourceAsStream(path)) {
                if (in == null) throw new DataException("embedded data " + path + " missing from the jar: rebuild with mvn package");
                return Idx.parse(Idx.readAll(in), rank, "classpath:" + path);
            } catch (IOException e) {
                throw new DataException("cannot read embedded data " + path + ": " + e.getMessage(), e);
            }
        }
    }

    private static Data checkShape(Data d, int[] inputShape) {
        Dataset t = d.train();
        if (t.channels() != inputShape[0] || t.height() != inputShape[1] || t.width() != inputShape[2])
            throw new DataException(d.description() + " holds " + t.shapeString() + " images but the model takes "
                    + inputShape[0] + "x" + inputShape[1] + "x" + inputShape[2]
                    + ": use --model fmnist-cnn for Fashion-MNIST, or an image folder for the face models (face-resnet10, -18, -34)");
        return d;
    }

    private static Data loadLfw(Dataset all, Path pairsTxt, String desc) {
        List<Pairs.Pair> pairs = Pairs.readLfw(pairsTxt, pathIndex(all));
        Set<Integer> evalIds = new HashSet<>();
        for (Pairs.Pair p : pairs) { evalIds.add(all.label(p.a())); evalIds.add(all.label(p.b())); }
        List<Integer> tr = new ArrayList<>(), te = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) (evalIds.contains(all.label(i)) ? te : tr).add(i);
        int[] teIdx = te.stream().mapToInt(Integer::intValue).toArray();
        Map<Integer, Integer> pos = new HashMap<>();
        for (int j = 0; j < teIdx.length; j++) pos.put(teIdx[j], j);
        List<Pairs.Pair> remapped = new ArrayList<>();
        for (Pairs.Pair p : pairs) remapped.add(new Pairs.Pair(pos.get(p.a()), pos.get(p.b()), p.same(), p.fold()));
        Dataset train = tr.isEmpty() ? null : all.subset(tr.stream().mapToInt(Integer::intValue).toArray(), "lfw-train");
        if (train == null) Log.warn("every identity of " + desc + " appears in pairs.txt: no identity is left for training");
        return new Data(train, all.subset(teIdx, "lfw-pairs"), remapped, desc, false);
    }

    /** Holds out a share of the images (stratified by nothing: a seeded shuffle), for IDX sets. */
    static Data split(Dataset all, double testShare, String desc) {
        int n = all.size();
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        new Rng(Pairs.PAIR_SEED).shuffle(idx);
        int nt = Math.max(1, (int) Math.round(n * testShare));
        int[] te = java.util.Arrays.copyOfRange(idx, 0, nt), tr = java.util.Arrays.copyOfRange(idx, nt, n);
        java.util.Arrays.sort(te);
        java.util.Arrays.sort(tr);
        return new Data(all.subset(tr, "train"), all.subset(te, "test"), null, desc, false);
    }

    /** Splits identities (not images) 80/20 with a fixed seed, so test identities are unseen. */
    static Data splitByIdentity(Dataset all, double testShare, String desc) {
        int k = all.classNames().size();
        if (k < 2) throw new DataException(desc + " has a single identity: triplet training needs at least two (and evaluation more)");
        int[] ids = new int[k];
        for (int i = 0; i < k; i++) ids[i] = i;
        new Rng(Pairs.PAIR_SEED).shuffle(ids);
        int nt = Math.max(1, (int) Math.round(k * testShare));
        boolean[] test = new boolean[k];
        for (int i = 0; i < nt; i++) test[ids[i]] = true;
        int n = all.size(), a = 0, b = 0;
        int[] tr = new int[n], te = new int[n];
        for (int i = 0; i < n; i++) {
            if (test[all.label(i)]) te[b++] = i; else tr[a++] = i;
        }
        Dataset train = all.subset(java.util.Arrays.copyOf(tr, a), "train");
        Dataset tst = all.subset(java.util.Arrays.copyOf(te, b), "test");
        Log.info(desc + ": " + (k - nt) + " identities for training, " + nt + " held out for evaluation");
        return new Data(train, tst, null, desc + " (identities split 80/20)", false);
    }
}
