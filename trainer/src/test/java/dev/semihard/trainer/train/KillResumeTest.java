package dev.semihard.trainer.train;

import dev.semihard.trainer.Main;
import dev.semihard.trainer.TestData;
import dev.semihard.trainer.ckpt.Checkpoint;
import dev.semihard.trainer.ckpt.SafeTensors;
import dev.semihard.trainer.util.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A run killed with SIGKILL mid-training, then resumed: the checkpoint is intact and, on the
 * reference backend, the resumed run's losses equal an uninterrupted run's exactly.
 */
class KillResumeTest {
    @TempDir
    Path tmp;

    static final int STEPS = 12;

    private List<String> args(Path data, Path runDir) {
        return List.of("train", "--backend", "reference", "--data", data.toString(), "-P", "3", "-K", "4", "--steps", Integer.toString(STEPS),
                "--checkpoint-every", "2", "--eval-limit", "60", "--no-plots", "--quiet", "--run-dir", runDir.toString(),
                "--lr", "0.01", "--augment", "flip+crop:2");
    }

    private static List<String> losses(Path runDir) throws Exception {
        List<String> out = new ArrayList<>();
        for (String l : Files.readAllLines(runDir.resolve("metrics.jsonl"))) {
            var m = Json.parseObject(l);
            out.add(m.get("step") + ":" + m.get("loss") + ":" + m.get("grad_norm"));
        }
        return out;
    }

    private static int inProcess(List<String> a) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int c = Main.run(new PrintWriter(o, true), new PrintWriter(e, true), a.toArray(new String[0]));
        if (c != 0) fail("exit " + c + ": " + e);
        return c;
    }

    @Test
    void killedRunResumesToTheSameLosses() throws Exception {
        Path data = TestData.fmnistLike(tmp.resolve("fm"), 240, 60, 6);
        Path a = tmp.resolve("uninterrupted"), b = tmp.resolve("killed");
        inProcess(args(data, a));
        List<String> expected = losses(a);
        assertEquals(STEPS, expected.size());

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx1g", "-cp", cp, Main.class.getName()));
        cmd.addAll(args(data, b));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile()).start();
        Path metrics = b.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        boolean killed = false;
        while (System.nanoTime() < deadline && p.isAlive()) {
            if (Files.exists(metrics) && Files.readAllLines(metrics).size() >= 7) {
                p.destroyForcibly();   // SIGKILL: no shutdown hooks, no finally blocks
                killed = true;
                break;
            }
            Thread.sleep(5);
        }
        p.waitFor(30, TimeUnit.SECONDS);
        assertTrue(killed, "the child run ended before it could be killed; log:\n" + Files.readString(tmp.resolve("child.log")));
        assertTrue(Files.readAllLines(metrics).size() < STEPS, "killed mid-training");

        // the checkpoint on disk is complete and loadable
        Checkpoint.Loaded ck = Checkpoint.load(b.resolve(Checkpoint.FILE), "fmnist-cnn");
        assertTrue(ck.step() >= 2 && ck.step() < STEPS && ck.step() % 2 == 0, "step " + ck.step());
        SafeTensors.read(b.resolve(Checkpoint.WEIGHTS));

        inProcess(List.of("train", "--resume", b.toString(), "--backend", "reference", "--quiet"));
        assertEquals(expected, losses(b), "resumed losses equal the uninterrupted run's");
        assertEquals(STEPS, Checkpoint.load(b.resolve(Checkpoint.FILE), "fmnist-cnn").step());
        assertFalse(new File(b.toFile(), "config.json").length() == 0);
    }
}
