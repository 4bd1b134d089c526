package dev.semihard.trainer.cli;

import dev.semihard.trainer.Main;
import dev.semihard.trainer.data.PackedDataset;
import dev.semihard.engine.util.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** semihard pack end to end: a generated JPEG folder packed, verified, trained on, evaluated and embedded; bad input; SIGKILL. */
class PackCliTest {
    @TempDir
    Path tmp;

    /** {@code ids} identities of {@code per} noisy JPEGs (w x h), a corrupt JPEG, a text file and an empty identity folder. */
    static Path jpegFolder(Path root, int ids, int per, int w, int h, long seed) throws Exception {
        Random r = new Random(seed);
        for (int i = 0; i < ids; i++) {
            Path d = Files.createDirectories(root.resolve(String.format("person%03d", i)));
            for (int j = 0; j < per; j++) {
                BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
                int base = (i * 37) % 200;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        int v = Math.min(255, base + ((x / (3 + i % 5) + y / 4) % 2) * 40 + r.nextInt(16));
                        img.setRGB(x, y, (v << 16) | ((255 - v) << 8) | ((v * 3) & 0xff));
                    }
                ImageIO.write(img, "jpg", d.resolve(String.format("person%03d_%04d.jpg", i, j + 1)).toFile());
            }
        }
        Files.write(root.resolve("person000/truncated.jpg"), new byte[] {(byte) 0xff, (byte) 0xd8, (byte) 0xff, 0x00, 0x11});
        Files.writeString(root.resolve("person001/readme.txt"), "not an image");
        Files.createDirectories(root.resolve("person999"));
        return root;
    }

    @Test
    void packVerifyTrainEvalEmbed() throws Exception {
        Path src = jpegFolder(tmp.resolve("faces"), 10, 5, 40, 48, 1);
        Path pack = tmp.resolve("faces.pack");
        Cli p = Cli.run("pack", src.toString(), "-o", pack.toString(), "--model", "fmnist-cnn", "--shard-bytes", "4096");
        assertEquals(0, p.code, p.toString());
        assertTrue(p.out.contains("50 of 10 identities, 1x32x32"), p.out);    // fmnist-cnn takes 28: stored 28 + 4
        assertTrue(p.out.contains("skipped   2 file(s)"), p.out);
        assertTrue(p.out.contains("empty     1 identity folder(s)"), p.out);
        Cli v = Cli.run("pack", "--verify", pack.toString());
        assertEquals(0, v.code, v.toString());
        assertTrue(v.out.startsWith("ok: ") && v.out.contains("50 images of 10 identities"), v.out);

        Path rd = tmp.resolve("run");
        Cli t = Cli.run("train", "--backend", "reference", "--data", pack.toString(), "-P", "3", "-K", "3", "--steps", "3",
                "--augment", "flip+crop", "--bn-recalibrate", "2", "--run-dir", rd.toString(), "--no-plots", "--quiet");
        assertEquals(0, t.code, t.toString());
        assertEquals(3, Files.readAllLines(rd.resolve("metrics.jsonl")).size());
        Cli e = Cli.run("eval", "--backend", "reference", "--data", pack.toString(), rd.toString(), "--out", tmp.resolve("ev").toString(), "--no-plots");
        assertEquals(0, e.code, e.toString());
        assertTrue(Files.exists(tmp.resolve("ev/eval.json")));
        Cli m = Cli.run("embed", "--backend", "reference", "--data", pack.toString(), rd.toString(), "-o", tmp.resolve("emb").toString());
        assertEquals(0, m.code, m.toString());
        assertTrue(Files.size(tmp.resolve("emb/embeddings.npy")) > 128);

        // a shard with a flipped byte: --verify fails, naming it
        Path shard = pack.resolve("shard-00003.bin");
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) { f.seek(5); int b = f.read(); f.seek(5); f.write(b ^ 1); }
        Cli bad = Cli.run("pack", "--verify", pack.toString());
        assertEquals(1, bad.code, bad.toString());
        assertTrue(bad.err.contains("shard-00003.bin is corrupt"), bad.err);
        // a pack that does not fit the model: face-resnet10 takes 3 x 96 x 96
        Cli misfit = Cli.run("train", "--backend", "reference", "--model", "face-resnet10", "--data", pack.toString(), "--steps", "1",
                "--run-dir", tmp.resolve("misfit").toString());
        assertEquals(1, misfit.code, misfit.toString());
        assertTrue(misfit.err.contains("holds 1x32x32 images but the model takes 3x96x96"), misfit.err);
        Cli usage = Cli.run("pack", src.toString());
        assertEquals(2, usage.code, usage.toString());
    }

    @Test
    void theInputSizeSetsTheStoredSizeAndABadOneIsRefused() throws Exception {
        Path src = jpegFolder(tmp.resolve("faces"), 3, 2, 40, 40, 5);
        Path pack = tmp.resolve("faces112.pack");
        Cli p = Cli.run("pack", src.toString(), "-o", pack.toString(), "--model", "face-resnet18", "--input-size", "112");
        assertEquals(0, p.code, p.toString());
        assertEquals("3x130x130", PackedDataset.open(pack).shapeString());   // 112 plus 1/6 for random crops
        Cli bad = Cli.run("pack", src.toString(), "-o", tmp.resolve("bad.pack").toString(), "--model", "face-resnet18", "--input-size", "20");
        assertEquals(2, bad.code, bad.toString());
        assertTrue(bad.err.contains("--input-size 20"), bad.err);
        assertFalse(Files.exists(tmp.resolve("bad.pack")));
    }

    @Test
    void aPackOfSingleImageIdentitiesCannotTrainAndSaysWhy() throws Exception {
        Path src = jpegFolder(tmp.resolve("singles"), 12, 1, 20, 20, 4);
        Path pack = tmp.resolve("singles.pack");
        assertEquals(0, Cli.run("pack", src.toString(), "-o", pack.toString(), "--channels", "1", "--size", "28").code);
        Cli t = Cli.run("train", "--backend", "reference", "--data", pack.toString(), "-P", "2", "-K", "2", "--steps", "1",
                "--run-dir", tmp.resolve("r").toString(), "--no-plots");
        assertEquals(1, t.code, t.toString());
        assertTrue(t.err.contains("at least 2 images") && t.err.contains("single image"), t.err);
    }

    @Test
    void trainingFromAPackEqualsTrainingFromTheFolder() throws Exception {
        Path src = jpegFolder(tmp.resolve("faces"), 8, 4, 30, 30, 2);
        Path pack = tmp.resolve("p");
        assertEquals(0, Cli.run("pack", src.toString(), "-o", pack.toString(), "--channels", "1", "--size", "28").code);
        List<Object> a = losses(src, tmp.resolve("from-folder")), b = losses(pack, tmp.resolve("from-pack"));
        assertEquals(4, a.size());
        for (Object l : a) assertTrue(((Number) l).doubleValue() > 0.1, "a loss that says something: " + a);
        assertEquals(a, b, "the same pixels, the same batches, the same losses");
        // the folder's cached pack is reused on the second run (same losses again)
        assertEquals(a, losses(src, tmp.resolve("from-folder-again")));
    }

    private List<Object> losses(Path data, Path rd) throws Exception {
        Cli t = Cli.run("train", "--backend", "reference", "--data", data.toString(), "-P", "2", "-K", "2", "--steps", "4",
                "--augment", "flip", "--bn-recalibrate", "0",
                "--strategy", "batch-all", "--margin", "4", "--run-dir", rd.toString(), "--no-plots", "--quiet");
        assertEquals(0, t.code, t.toString());
        List<Object> out = new ArrayList<>();
        for (String l : Files.readAllLines(rd.resolve("metrics.jsonl"))) out.add(Json.parseObject(l).get("loss"));
        return out;
    }

    @Test
    void packKilledWithSigkillThenRunAgain() throws Exception {
        Path src = jpegFolder(tmp.resolve("big"), 40, 10, 160, 160, 3);
        Path out = tmp.resolve("big.pack");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Process p = new ProcessBuilder(java, "-Xmx512m", "-cp", cp, Main.class.getName(), "pack", src.toString(), "-o", out.toString(),
                "--threads", "1", "--size", "64", "--shard-bytes", "65536")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile()).start();
        Path tmpDir = tmp.resolve("big.pack.tmp-" + p.pid());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        boolean killed = false;
        while (System.nanoTime() < deadline && p.isAlive()) {
            if (Files.exists(tmpDir.resolve("shard-00002.bin"))) {
                p.destroyForcibly();    // SIGKILL: no cleanup runs
                killed = true;
                break;
            }
            Thread.sleep(2);
        }
        p.waitFor(30, TimeUnit.SECONDS);
        assertTrue(killed, "the child was killed while packing: " + Files.readString(tmp.resolve("child.log")));
        assertFalse(PackedDataset.isPack(out), "an interrupted pack never looks valid");
        assertTrue(Files.exists(tmpDir), "its temporary folder is left behind");
        Cli again = Cli.run("pack", src.toString(), "-o", out.toString(), "--size", "64", "--shard-bytes", "65536");
        assertEquals(0, again.code, again.toString());
        assertFalse(Files.exists(tmpDir), "the next run removed the dead run's folder");
        assertEquals(0, Cli.run("pack", "--verify", out.toString()).code);
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(), s.filter(x -> x.getFileName().toString().contains(".tmp-")).toList());
        }
    }
}
