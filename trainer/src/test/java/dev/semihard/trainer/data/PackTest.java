package dev.semihard.trainer.data;

import dev.semihard.engine.mining.PKSampler;
import dev.semihard.trainer.TestData;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pack format: written, read back through small mappings, checked; and every kind of bad input. */
class PackTest {
    @TempDir
    Path tmp;

    @AfterEach
    void clearProperties() {
        System.clearProperty("semihard.pack.mapBytes");
        System.clearProperty("semihard.pack.failAfterBytes");
        System.clearProperty("semihard.pack.io");
    }

    /** id0..id5 with 3, 1, 4, 2, 5, 3 images, a corrupt JPEG, a text file and an empty identity folder. */
    Path messyFolder() throws Exception {
        Path root = TestData.imageFolder(tmp.resolve("faces"), new int[] {3, 1, 4, 2, 5, 3});
        Files.writeString(root.resolve("id2/broken.jpg"), "not a jpeg");
        Files.writeString(root.resolve("id4/notes.txt"), "hello");
        Files.createDirectories(root.resolve("id9-empty"));
        return root;
    }

    static Packer.Options opts(int c, int size, long shardBytes) {
        return new Packer.Options(c, size, false, 2, shardBytes, false, null);
    }

    @Test
    void packHoldsTheFolderImagesAcrossShardsAndMappingWindows() throws Exception {
        Path src = messyFolder();
        // 3 x 20 x 20 = 1200-byte records, 3 per shard; 4 KiB mappings: records cross mapping boundaries
        Packer.Result r = Packer.pack(src, tmp.resolve("p"), opts(3, 20, 3600));
        assertEquals(18, r.images());
        assertEquals(6, r.identities());
        assertEquals(2, r.skipped(), "the corrupt JPEG and the text file");
        assertEquals(1, r.emptyIdentities());
        System.setProperty("semihard.pack.mapBytes", "4096");
        System.setProperty("semihard.pack.io", "mmap");
        PackedDataset p = PackedDataset.open(tmp.resolve("p"));
        assertEquals(6, p.shards());
        assertEquals(18 * 1200L, p.verify());
        Dataset mem = ImageFolder.load(src, 3, 20, false, null, "m", 0.5f, 0.5f).dataset();
        assertEquals(mem.size(), p.size());
        assertEquals(mem.classNames(), p.classNames());
        assertEquals(mem.paths(), p.paths());
        byte[] a = new byte[1200], b = new byte[1200];
        float[] fa = new float[1200], fb = new float[1200];
        for (int i = 0; i < p.size(); i++) {
            mem.readImage(i, a, 0);
            p.readImage(i, b, 0);
            assertArrayEquals(a, b, "image " + i);
            assertEquals(mem.label(i), p.label(i));
            mem.copyNormalized(i, fa, 0);
            p.copyNormalized(i, fb, 0);
            assertArrayEquals(fa, fb);
        }
        // the same identities, so the same P x K batches
        PKSampler s1 = new PKSampler(mem.labels(), 2, 3, 2, 7), s2 = new PKSampler(p.identities(), 2, 3, 2, 7);
        for (int t = 0; t < 20; t++) assertArrayEquals(s1.next().indices(), s2.next().indices());
        // positional reads (no mapping) give the same bytes
        System.clearProperty("semihard.pack.io");
        PackedDataset q = PackedDataset.open(tmp.resolve("p"));
        for (int i = 0; i < q.size(); i++) {
            mem.readImage(i, a, 0);
            q.readImage(i, b, 0);
            assertArrayEquals(a, b, "image " + i + " by positional reads");
        }
        assertEquals(18 * 1200L, q.verify());
        String skipped = Files.readString(tmp.resolve("p").resolve(PackFormat.SKIPPED));
        assertTrue(skipped.contains("id2/broken.jpg") && skipped.contains("id4/notes.txt"), skipped);
    }

    @Test
    void anInterruptedReaderDoesNotBreakThePackForOthers() throws Exception {
        PackedDataset p = PackedDataset.open(smallPack("i"));
        byte[] px = new byte[p.imageSize()];
        p.readImage(0, px, 0);
        Thread t = new Thread(() -> {
            Thread.currentThread().interrupt();      // what a loader's shutdownNow does to a worker mid-read
            try {
                p.readImage(1, new byte[p.imageSize()], 0);
            } catch (DataException expected) {
                // the interrupted read may fail; it closed the shared channel
            }
        });
        t.start();
        t.join();
        for (int i = 0; i < p.size(); i++) p.readImage(i, px, 0);    // the channel is reopened
        assertEquals(p.size(), 9);
    }

    @Test
    void aSplitPackSamplesLikeItsLabels() throws Exception {
        Path src = TestData.imageFolder(tmp.resolve("src"), new int[] {3, 2, 4, 2, 3, 5, 2, 3, 2, 4});
        PackedDataset p = PackedDataset.open(Packer.pack(src, tmp.resolve("p"), opts(1, 8, 1 << 20)).pack());
        Dataset train = DataSources.splitByIdentity(p, 0.2, "t").train();
        PKSampler a = new PKSampler(train.identities(), 3, 2, 2, 5), b = new PKSampler(train.labels(), 3, 2, 2, 5);
        for (int t = 0; t < 30; t++) assertArrayEquals(b.next().indices(), a.next().indices());
        Dataset mixed = p.subset(new int[] {0, 5, 1, 6, 2}, "mixed");       // labels 0 1 0 1 0: not runs
        PKSampler c = new PKSampler(mixed.identities(), 2, 2, 0, 5), d = new PKSampler(mixed.labels(), 2, 2, 0, 5);
        for (int t = 0; t < 10; t++) assertArrayEquals(d.next().indices(), c.next().indices());
    }

    @Test
    void anImageFolderIsPackedOnceIntoTheCacheAndAgainWhenItChanges() throws Exception {
        String before = System.getProperty("semihard.cache");
        System.setProperty("semihard.cache", tmp.resolve("cache").toString());
        java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = dev.semihard.trainer.util.Log.out;
        dev.semihard.trainer.util.Log.out = new java.io.PrintStream(log, true);
        try {
            Path src = TestData.imageFolder(tmp.resolve("faces"), new int[] {2, 3});
            PackedDataset a = FolderCache.pack(src, 1, 8, false);
            assertTrue(a.dir().startsWith(tmp.resolve("cache")), a.dir().toString());
            long written = Files.getLastModifiedTime(a.dir().resolve(PackFormat.INDEX)).toMillis();
            log.reset();
            PackedDataset b = FolderCache.pack(src, 1, 8, false);
            assertEquals(a.dir(), b.dir());
            assertEquals(written, Files.getLastModifiedTime(b.dir().resolve(PackFormat.INDEX)).toMillis(), "not packed again");
            assertTrue(log.toString().contains("using its cached pack " + a.dir()) && log.toString().contains("MiB"), log.toString());
            assertFalse(log.toString().contains("packing"), log.toString());
            // another size, or a changed file: another pack
            assertFalse(FolderCache.pack(src, 1, 10, false).dir().equals(a.dir()));
            Path f = src.resolve("id1/id1_0001.png");
            Files.setLastModifiedTime(f, java.nio.file.attribute.FileTime.fromMillis(Files.getLastModifiedTime(f).toMillis() + 5000));
            PackedDataset c = FolderCache.pack(src, 1, 8, false);
            assertFalse(c.dir().equals(a.dir()), "a changed folder is packed again");
            assertEquals(5, c.size());
        } finally {
            dev.semihard.trainer.util.Log.out = old;
            if (before == null) System.clearProperty("semihard.cache"); else System.setProperty("semihard.cache", before);
        }
    }

    @Test
    void anLfwPackKeepsItsPairs() throws Exception {
        Path root = TestData.imageFolder(tmp.resolve("lfw"), new int[] {3, 2, 2, 4, 3});
        Files.writeString(root.resolve("pairs.txt"), "2\t1\nid0\t1\t2\nid1\t1\tid2\t2\nid2\t1\t2\nid0\t3\tid1\t1\n");
        Path p = Packer.pack(root, tmp.resolve("lfw.pack"), opts(1, 16, 1 << 20)).pack();
        assertTrue(Files.exists(p.resolve(PackFormat.PAIRS)));
        DataSources.Data d = DataSources.resolve(p, new int[] {1, 16, 16}, false);
        assertEquals(4, d.pairs().size());
        assertEquals(7, d.test().size(), "every image of the identities the pairs name (id0, id1, id2)");
        assertEquals(7, d.train().size(), "the others train");
        assertTrue(d.description().contains("pairs.txt"), d.description());
    }

    @Test
    void windowsFlipAndCrop() throws Exception {
        byte[] px = new byte[2 * 4 * 4];
        for (int i = 0; i < px.length; i++) px[i] = (byte) i;
        MemoryDataset d = new MemoryDataset("w", 2, 4, 4, px, new int[] {0}, List.of("a"), null, 0f, 1f / 255);
        float[] out = new float[2 * 2 * 3];
        d.copyWindow(0, 1, 0, 2, 3, true, out, 0);
        assertArrayEquals(new float[] {6, 5, 4, 10, 9, 8, 22, 21, 20, 26, 25, 24}, out);
        d.copyCentered(0, 2, 2, out, 0);
        assertArrayEquals(new float[] {5, 6, 9, 10, 21, 22, 25, 26}, java.util.Arrays.copyOf(out, 8));
        assertThrows(IllegalArgumentException.class, () -> d.copyWindow(0, 3, 0, 2, 2, false, new float[8], 0));
    }

    Path smallPack(String name) throws Exception {
        Path src = TestData.imageFolder(tmp.resolve("src-" + name), new int[] {3, 3, 3});
        return Packer.pack(src, tmp.resolve(name), opts(1, 8, 64 * 4)).pack();
    }

    @Test
    void truncatedShardOrIndex() throws Exception {
        Path p = smallPack("a");
        try (RandomAccessFile f = new RandomAccessFile(p.resolve("shard-00001.bin").toFile(), "rw")) { f.setLength(f.length() - 1); }
        DataException e = assertThrows(DataException.class, () -> PackedDataset.open(p));
        assertTrue(e.getMessage().contains("shard-00001.bin is truncated") && e.getMessage().contains("re-create"), e.getMessage());

        Path q = smallPack("b");
        try (RandomAccessFile f = new RandomAccessFile(q.resolve("index.bin").toFile(), "rw")) { f.setLength(f.length() - 10); }
        e = assertThrows(DataException.class, () -> PackedDataset.open(q));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());

        Path m = smallPack("c");
        Files.delete(m.resolve("shard-00000.bin"));
        e = assertThrows(DataException.class, () -> PackedDataset.open(m));
        assertTrue(e.getMessage().contains("missing shard-00000.bin"), e.getMessage());
    }

    @Test
    void wrongMagicUnknownVersionAndCorruptIndex() throws Exception {
        Path p = smallPack("a");
        byte[] ix = Files.readAllBytes(p.resolve("index.bin"));
        byte[] bad = ix.clone();
        bad[0] = 'X';
        Files.write(p.resolve("index.bin"), bad);
        assertTrue(assertThrows(DataException.class, () -> PackedDataset.open(p)).getMessage().contains("wrong magic"));
        bad = ix.clone();
        bad[8] = 7;
        Files.write(p.resolve("index.bin"), bad);
        String m = assertThrows(DataException.class, () -> PackedDataset.open(p)).getMessage();
        assertTrue(m.contains("version 7") && m.contains("upgrade semihard"), m);
        bad = ix.clone();
        bad[bad.length - 6] ^= 1;          // a byte of the names
        Files.write(p.resolve("index.bin"), bad);
        assertTrue(assertThrows(DataException.class, () -> PackedDataset.open(p)).getMessage().contains("checksum does not match"));
        Files.write(p.resolve("index.bin"), ix);
        assertEquals(9, PackedDataset.open(p).size(), "the original index opens again");
    }

    @Test
    void aShardWhoseChecksumDoesNotMatch() throws Exception {
        Path p = smallPack("a");
        try (RandomAccessFile f = new RandomAccessFile(p.resolve("shard-00001.bin").toFile(), "rw")) {
            f.seek(10);
            int v = f.read();
            f.seek(10);
            f.write(v ^ 0xff);
        }
        PackedDataset d = PackedDataset.open(p);      // a normal open checks sizes only
        DataException e = assertThrows(DataException.class, d::verify);
        assertTrue(e.getMessage().contains("shard-00001.bin is corrupt"), e.getMessage());
    }

    @Test
    void aPackThatDoesNotFitTheModel() throws Exception {
        Path p = smallPack("a");     // 1 x 8 x 8
        DataException e = assertThrows(DataException.class, () -> DataSources.resolve(p, new int[] {3, 8, 8}, false));
        assertTrue(e.getMessage().contains("holds 1x8x8") && e.getMessage().contains("--channels 3"), e.getMessage());
        e = assertThrows(DataException.class, () -> DataSources.resolve(p, new int[] {1, 16, 16}, false));
        assertTrue(e.getMessage().contains("--size 16"), e.getMessage());
        assertEquals(1, DataSources.resolve(p, new int[] {1, 6, 6}, false).train().channels(), "a smaller input crops the margin");
    }

    @Test
    void strictStopsAtTheFirstBadFileAndLeavesNothing() throws Exception {
        Path src = messyFolder();
        DataException e = assertThrows(DataException.class, () -> Packer.pack(src, tmp.resolve("s"),
                new Packer.Options(1, 8, true, 2, 1 << 20, false, null)));
        assertTrue(e.getMessage().contains("broken.jpg"), e.getMessage());
        assertNothingLeft("s");
    }

    @Test
    void diskFullOrNotWritable() throws Exception {
        Path src = TestData.imageFolder(tmp.resolve("src"), new int[] {3, 3, 3});
        System.setProperty("semihard.pack.failAfterBytes", "200");
        DataException e = assertThrows(DataException.class, () -> Packer.pack(src, tmp.resolve("full"), opts(1, 8, 1 << 20)));
        assertTrue(e.getMessage().contains("No space left on device") && e.getMessage().contains("free some space"), e.getMessage());
        assertNothingLeft("full");
        System.clearProperty("semihard.pack.failAfterBytes");
        Files.writeString(tmp.resolve("afile"), "x");
        e = assertThrows(DataException.class, () -> Packer.pack(src, tmp.resolve("afile").resolve("out"), opts(1, 8, 1 << 20)));
        assertTrue(e.getMessage().contains("cannot write the pack"), e.getMessage());
    }

    @Test
    void aStaleTemporaryPackIsRemovedAndNeverOpens() throws Exception {
        Path src = TestData.imageFolder(tmp.resolve("src"), new int[] {2, 2});
        Path stale = tmp.resolve("out.tmp-999999999");
        Files.createDirectories(stale);
        Files.writeString(stale.resolve("shard-00000.bin"), "partial");
        assertFalse(PackedDataset.isPack(tmp.resolve("out")));
        assertThrows(DataException.class, () -> PackedDataset.open(tmp.resolve("out")));
        Packer.pack(src, tmp.resolve("out"), opts(1, 8, 1 << 20));
        assertFalse(Files.exists(stale), "the dead writer's folder is gone");
        assertEquals(4, PackedDataset.open(tmp.resolve("out")).size());
        DataException e = assertThrows(DataException.class, () -> Packer.pack(src, tmp.resolve("out"), opts(1, 8, 1 << 20)));
        assertTrue(e.getMessage().contains("--force"), e.getMessage());
    }

    @Test
    void idxSourcesAreSortedByLabel() throws Exception {
        Path d = TestData.fmnistLike(tmp.resolve("fm"), 30, 10, 3);
        Packer.Result r = Packer.pack(d, tmp.resolve("fm.pack"), new Packer.Options(1, 0, false, 1, 1 << 20, false, "train"));
        PackedDataset p = PackedDataset.open(r.pack());
        assertEquals(30, p.size());
        assertEquals(List.of("0", "1", "2"), p.classNames());
        Dataset mem = Idx.load(Idx.find(d, "train-images-idx3-ubyte"), Idx.find(d, "train-labels-idx1-ubyte"), "t", 0f, 1f);
        byte[] a = new byte[784], b = new byte[784];
        mem.readImage(4, a, 0);         // label 1, the second image of that label (1, 4, 7, ...)
        p.readImage(10 + 1, b, 0);
        assertArrayEquals(a, b);
        assertEquals(DataSources.FMNIST_MEAN, p.mean());
    }

    void assertNothingLeft(String name) throws Exception {
        assertFalse(Files.exists(tmp.resolve(name)), "no pack");
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(), s.filter(x -> x.getFileName().toString().startsWith(name + ".tmp")).toList(), "no temporary folder");
        }
    }
}
