package dev.semihard.trainer.data;

import dev.semihard.trainer.TestData;
import dev.semihard.trainer.util.Log;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class DataSourcesTest {
    @TempDir
    Path tmp;

    @Test
    void embeddedSubsetWhenFashionMnistIsNotInstalled() {
        Path saved = DataSources.systemFmnist;
        PrintStream savedOut = Log.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try {
            DataSources.systemFmnist = tmp.resolve("not-installed");
            Log.out = new PrintStream(buf, true);
            DataSources.Data d = DataSources.resolve(null, new int[] {1, 28, 28}, false);
            assertTrue(d.embedded());
            assertEquals(10, d.train().numClasses());
            assertTrue(d.train().size() >= 1000 && d.test().size() >= 300, d.train() + " / " + d.test());
            String msg = buf.toString();
            assertTrue(msg.contains("embedded") && msg.contains("apt-get install dataset-fashion-mnist") && msg.contains("--data"), msg);
        } finally {
            DataSources.systemFmnist = saved;
            Log.out = savedOut;
        }
    }

    @Test
    void idxFolderAndModelShapeMismatch() throws Exception {
        Path d = TestData.fmnistLike(tmp.resolve("fm"), 30, 10, 3);
        DataSources.Data data = DataSources.resolve(d, new int[] {1, 28, 28}, false);
        assertEquals(30, data.train().size());
        assertEquals(10, data.test().size());
        DataException e = assertThrows(DataException.class, () -> DataSources.resolve(d, new int[] {3, 96, 96}, false));
        assertTrue(e.getMessage().contains("3x96x96"), e.getMessage());
    }

    @Test
    void lfwLayoutTrainsOnIdentitiesNoPairNames() throws Exception {
        Path root = TestData.imageFolder(tmp.resolve("lfw"), new int[] {3, 2, 2, 4, 3});
        // pairs use id0, id1, id2 only; id3 and id4 are left for training
        Files.writeString(root.resolve("pairs.txt"), "2\t1\nid0\t1\t2\nid1\t1\tid2\t2\nid2\t1\t2\nid0\t3\tid1\t1\n");
        DataSources.Data d = DataSources.resolve(root, new int[] {1, 16, 16}, false);
        assertEquals(4, d.pairs().size());
        assertEquals(7, d.test().size());
        assertEquals(7, d.train().size());
        Set<String> trainIds = new HashSet<>();
        for (int i = 0; i < d.train().size(); i++) trainIds.add(d.train().paths().get(i).split("/")[0]);
        assertEquals(Set.of("id3", "id4"), trainIds);
        for (Pairs.Pair p : d.pairs()) {
            String a = d.test().paths().get(p.a()).split("/")[0], b = d.test().paths().get(p.b()).split("/")[0];
            assertEquals(p.same(), a.equals(b));
        }
    }

    @Test
    void singleImageFolderIsSplitByIdentity() throws Exception {
        Path root = TestData.imageFolder(tmp.resolve("faces"), new int[] {2, 2, 2, 2, 2, 2, 2, 2, 2, 2});
        DataSources.Data d = DataSources.resolve(root, new int[] {1, 8, 8}, false);
        Set<String> tr = new HashSet<>(), te = new HashSet<>();
        for (String p : d.train().paths()) tr.add(p.split("/")[0]);
        for (String p : d.test().paths()) te.add(p.split("/")[0]);
        assertEquals(8, tr.size());
        assertEquals(2, te.size());
        assertTrue(java.util.Collections.disjoint(tr, te), "test identities are unseen in training");
    }

    @Test
    void aFileInsteadOfAFolder() throws Exception {
        Path f = Files.writeString(tmp.resolve("x.txt"), "hi");
        DataException e = assertThrows(DataException.class, () -> DataSources.resolve(f, new int[] {1, 28, 28}, false));
        assertTrue(e.getMessage().contains("must be a folder"));
    }
}
