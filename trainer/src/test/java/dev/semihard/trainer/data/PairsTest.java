package dev.semihard.trainer.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class PairsTest {
    @TempDir
    Path tmp;

    @Test
    void generatedPairsHaveTheRightKindsAndFolds() {
        int[] labels = new int[200];
        for (int i = 0; i < labels.length; i++) labels[i] = i % 7;
        List<Pairs.Pair> ps = Pairs.generate(labels, 300, 300, 10, Pairs.PAIR_SEED);
        assertEquals(600, ps.size());
        int[] foldSame = new int[10], foldDiff = new int[10];
        for (Pairs.Pair p : ps) {
            assertNotEquals(p.a(), p.b());
            assertEquals(p.same(), labels[p.a()] == labels[p.b()]);
            (p.same() ? foldSame : foldDiff)[p.fold()]++;
        }
        for (int f = 0; f < 10; f++) { assertEquals(30, foldSame[f]); assertEquals(30, foldDiff[f]); }
        assertEquals(ps, Pairs.generate(labels, 300, 300, 10, Pairs.PAIR_SEED), "same seed, same pairs");
    }

    @Test
    void impossiblePairsAreAClearError() {
        DataException e = assertThrows(DataException.class, () -> Pairs.generate(new int[] {0, 1, 2}, 1, 1, 1, 1));
        assertTrue(e.getMessage().contains("two images"));
        assertThrows(DataException.class, () -> Pairs.generate(new int[] {4, 4, 4}, 1, 1, 1, 1));
    }

    private Map<String, Integer> index() {
        Map<String, Integer> m = new HashMap<>();
        m.put("Ann/Ann_0001.jpg", 0);
        m.put("Ann/Ann_0002.jpg", 1);
        m.put("Bob/Bob_0001.jpg", 2);
        m.put("Cy/Cy_0001.png", 3);
        return m;
    }

    @Test
    void readsLfwPairs() throws Exception {
        Files.writeString(tmp.resolve("pairs.txt"), "2\t1\nAnn\t1\t2\nBob\t1\tCy\t1\nAnn\t2\t1\nAnn\t1\tBob\t1\n");
        List<Pairs.Pair> ps = Pairs.readLfw(tmp.resolve("pairs.txt"), index());
        assertEquals(List.of(new Pairs.Pair(0, 1, true, 0), new Pairs.Pair(2, 3, false, 0),
                new Pairs.Pair(1, 0, true, 1), new Pairs.Pair(0, 2, false, 1)), ps);
    }

    @Test
    void pairsNamingMissingFilesAreAnError() throws Exception {
        Files.writeString(tmp.resolve("pairs.txt"), "1\t1\nAnn\t1\t3\nBob\t1\tDee\t4\n");
        DataException e = assertThrows(DataException.class, () -> Pairs.readLfw(tmp.resolve("pairs.txt"), index()));
        assertTrue(e.getMessage().contains("2 image(s) missing"), e.getMessage());
        assertTrue(e.getMessage().contains("Ann/Ann_0003"), e.getMessage());
    }

    @Test
    void malformedPairsFile() throws Exception {
        Files.writeString(tmp.resolve("pairs.txt"), "1\t2\nAnn\t1\t2\n");
        DataException e = assertThrows(DataException.class, () -> Pairs.readLfw(tmp.resolve("pairs.txt"), index()));
        assertTrue(e.getMessage().contains("promises"), e.getMessage());
    }
}
