package dev.semihard.trainer.data;

import dev.semihard.trainer.TestData;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The NumPy reader printed in docs/pack-format.md reads what the writer writes (several shards). */
class PackPythonReaderTest {
    @TempDir
    Path tmp;

    static String run(Path dir, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) { p.destroyForcibly(); return "timeout"; }
        return p.exitValue() == 0 ? out : "exit " + p.exitValue() + ": " + out;
    }

    @Test
    void theDocumentedNumpyReaderReadsAPack() throws Exception {
        String probe;
        try {
            probe = run(tmp, "python3", "-c", "import numpy; print('ok')");
        } catch (java.io.IOException e) {
            probe = "no python3: " + e.getMessage();
        }
        String why = "python3 with NumPy is not installed (apt-get install python3-numpy): " + probe;
        // CI requires it (SEMIHARD_REQUIRE=...,numpy): there a missing NumPy fails instead of skipping
        if (String.valueOf(System.getenv("SEMIHARD_REQUIRE")).contains("numpy")) assertEquals("ok", probe.trim(), why);
        Assumptions.assumeTrue(probe.trim().equals("ok"), "SKIPPED: " + why);
        Path doc = Path.of("..", "docs", "pack-format.md");
        if (!Files.exists(doc)) doc = Path.of("docs", "pack-format.md");
        String md = Files.readString(doc);
        int a = md.indexOf("```python\n"), b = md.indexOf("```", a + 10);
        assertTrue(a >= 0 && b > a, "docs/pack-format.md has a python block");
        String reader = md.substring(a + 10, b);

        Path src = TestData.imageFolder(tmp.resolve("src"), new int[] {3, 1, 4, 2});
        Path pack = Packer.pack(src, tmp.resolve("p"), new Packer.Options(3, 6, false, 2, 3 * 36 * 3, false, null)).pack();
        PackedDataset p = PackedDataset.open(pack);
        StringBuilder expect = new StringBuilder();
        byte[] px = new byte[p.imageSize()];
        for (int i = 0; i < p.size(); i++) {
            p.readImage(i, px, 0);
            long sum = 0;
            for (byte v : px) sum += (v & 0xff);
            expect.append(i).append(' ').append(p.label(i)).append(' ').append(sum).append(' ').append(px[7] & 0xff).append('\n');
        }
        Files.writeString(tmp.resolve("check.py"), reader + "\nimport sys\n"
                + "images, labels, names, h = read_pack(sys.argv[1])\n"
                + "assert images.shape == (10, 3, 6, 6), images.shape\n"
                + "assert names == ['id0', 'id1', 'id2', 'id3'], names\n"
                + "for i in range(len(images)):\n"
                + "    print(i, labels[i], int(images[i].astype(np.int64).sum()), images[i].reshape(-1)[7])\n");
        String out = run(tmp, "python3", "check.py", pack.toString());
        assertEquals(expect.toString(), out);
        assertTrue(p.shards() >= 3, "several shards");
    }
}
