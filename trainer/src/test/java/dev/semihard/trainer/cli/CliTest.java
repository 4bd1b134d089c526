package dev.semihard.trainer.cli;

import dev.semihard.trainer.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Usage and bad-input behaviour of every command: a clear message and the right exit code. */
class CliTest {
    @TempDir
    Path tmp;

    @Test
    void helpOnEveryCommand() {
        for (String c : new String[] {"train", "eval", "embed", "pack", "info", "selftest", "bench"}) {
            Cli r = Cli.run(c, "--help");
            assertEquals(0, r.code, c + ": " + r);
            assertTrue(r.out.contains("Usage: semihard " + c), c + ": " + r.out);
        }
        // the options declared once in mixins are listed, with their one description, by every command that has them
        java.util.Map<String, String[]> shared = java.util.Map.of(
                "train", new String[] {"--backend", "--threads", "--device", "--precision", "--data", "--strict", "--distance",
                        "--eval-limit", "--recall-k", "--no-plots"},
                "eval", new String[] {"--backend", "--threads", "--device", "--precision", "--data", "--strict", "--distance",
                        "--eval-limit", "--recall-k", "--no-plots"},
                "embed", new String[] {"--backend", "--threads", "--device", "--precision", "--data", "--strict"},
                "selftest", new String[] {"--backend", "--threads", "--device", "--precision"},
                "bench", new String[] {"--backend", "--threads"});
        for (var e : shared.entrySet()) {
            String help = Cli.run(e.getKey(), "--help").out;
            for (String o : e.getValue()) assertTrue(help.contains(o + (o.equals("--strict") || o.equals("--no-plots") ? " " : "=")),
                    e.getKey() + " --help lacks " + o + ":\n" + help);
            if (help.contains("--data=DIR")) assertTrue(help.replaceAll("\\s+", " ").contains("image folder (one sub-folder per identity)"), help);
        }
        Cli top = Cli.run("--help");
        assertEquals(0, top.code);
        assertTrue(top.out.contains("train") && top.out.contains("selftest"));
    }

    @Test
    void theCommandListShowsOneWholeSentencePerCommand() {
        // the top-level help shows only the first description line of each command: it must not stop mid-sentence
        picocli.CommandLine cl = dev.semihard.trainer.Main.commandLine();
        for (var e : cl.getSubcommands().entrySet()) {
            if (e.getKey().equals("help")) continue;
            String[] d = e.getValue().getCommandSpec().usageMessage().description();
            assertTrue(d.length > 0, e.getKey() + " has no description");
            assertTrue(d[0].endsWith("."), e.getKey() + ": the summary line shown by 'semihard --help' is cut: \"" + d[0] + "\"");
        }
    }

    @Test
    void selftestWithTf32OnABackendWithoutTensorCoresFailsAndSaysWhy() {
        Cli r = Cli.run("selftest", "--backend", "reference", "--threads", "2", "--precision", "tf32");
        assertEquals(1, r.code, r.toString());
        assertTrue(r.out.contains("0 failed, 0 skipped"), "the fp32 suite itself passes: " + r.out);
        assertTrue(r.out.contains("has no TF32 path") && r.out.contains("--backend cuda"), r.out);
    }

    @Test
    void theSummaryRateKeepsThreeDigitsForSlowRuns() {
        assertEquals("0.113", TrainCommand.rate(0.1129));
        assertEquals("3.14", TrainCommand.rate(3.14159));
        assertEquals("12.5", TrainCommand.rate(12.46));
        assertEquals("1255", TrainCommand.rate(1255.4));
        assertEquals("0.00", TrainCommand.rate(0).substring(0, 4));
    }

    @Test
    void infoListsTheReferenceBackend() {
        Cli r = Cli.run("info");
        assertEquals(0, r.code, r.toString());
        assertTrue(r.out.contains("reference") && r.out.contains("available"), r.out);
        assertTrue(r.out.contains("face-resnet18, face-resnet34 (3xSxS, --input-size S from 32 to 512, default 96)"), r.out);
    }

    @Test
    void badOptionValuesAreUsageErrors() {
        String[][] cases = {
                {"--margin", "-0.5", "--margin"},
                {"-K", "1", "-K"},
                {"-P", "1", "-P"},
                {"--strategy", "hardest", "unknown strategy"},
                {"--distance", "manhattan", "unknown distance"},
                {"--optimizer", "lion", "--optimizer"},
                {"--lr", "0", "--lr"},
                {"--lr-schedule", "weird", "schedule"},
                {"--model", "vgg", "--model"},
                {"--augment", "rotate", "--augment"},
        };
        for (String[] c : cases) {
            Cli r = Cli.run("train", "--backend", "reference", c[0], c[1], "--run-dir", tmp.resolve("r").toString());
            assertEquals(2, r.code, Arrays.toString(c) + " -> " + r);
            assertTrue(r.err.contains(c[2]), Arrays.toString(c) + " -> " + r.err);
            assertFalse(Files.exists(tmp.resolve("r")), "no run folder for a usage error");
        }
        Cli unknown = Cli.run("train", "--no-such-option");
        assertEquals(2, unknown.code);
        assertTrue(unknown.err.contains("Unknown option"), unknown.err);
    }

    @Test
    void unavailableOrUnknownBackend() {
        Cli r = Cli.run("train", "--backend", "nosuch", "--run-dir", tmp.resolve("r").toString());
        assertEquals(1, r.code, r.toString());
        assertTrue(r.err.contains("unknown backend 'nosuch'"), r.err);
        Cli cuda = Cli.run("info");
        if (!cuda.out.matches("(?s).*cuda\\s+\\d+\\s+available.*")) {
            Cli c = Cli.run("train", "--backend", "cuda", "--run-dir", tmp.resolve("c").toString());
            assertEquals(1, c.code, c.toString());
            assertTrue(c.err.contains("cuda"), c.err);
        }
    }

    @Test
    void missingAndEmptyDataFolders() throws Exception {
        Cli missing = Cli.run("train", "--backend", "reference", "--data", tmp.resolve("none").toString(), "--run-dir", tmp.resolve("r1").toString());
        assertEquals(1, missing.code, missing.toString());
        assertTrue(missing.err.contains("not found"), missing.err);
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        Cli e = Cli.run("train", "--backend", "reference", "--data", empty.toString(), "--run-dir", tmp.resolve("r2").toString());
        assertEquals(1, e.code, e.toString());
        assertTrue(e.err.contains("empty"), e.err);
    }

    @Test
    void truncatedAndWrongMagicIdx() throws Exception {
        Path d = TestData.fmnistLike(tmp.resolve("fm"), 50, 20, 5);
        byte[] img = Files.readAllBytes(d.resolve("train-images-idx3-ubyte.gz"));
        Files.write(d.resolve("train-images-idx3-ubyte.gz"), Arrays.copyOf(img, img.length / 2));
        Cli r = Cli.run("train", "--backend", "reference", "--data", d.toString(), "--run-dir", tmp.resolve("r").toString());
        assertEquals(1, r.code, r.toString());
        assertTrue(r.err.contains("truncated"), r.err);
        Files.write(d.resolve("train-images-idx3-ubyte.gz"), "GIF89a-not-idx".getBytes());
        Cli m = Cli.run("train", "--backend", "reference", "--data", d.toString(), "--run-dir", tmp.resolve("r3").toString());
        assertEquals(1, m.code, m.toString());
        assertTrue(m.err.contains("wrong magic"), m.err);
    }

    @Test
    void fewerIdentitiesThanP() throws Exception {
        Path d = TestData.fmnistLike(tmp.resolve("fm"), 100, 40, 5);
        Cli r = Cli.run("train", "--backend", "reference", "--data", d.toString(), "-P", "8", "-K", "4",
                "--run-dir", tmp.resolve("r").toString());
        assertEquals(1, r.code, r.toString());
        assertTrue(r.err.contains("lower P"), r.err);
    }

    @Test
    void lfwPairsNamingMissingFiles() throws Exception {
        Path d = TestData.imageFolder(tmp.resolve("lfw"), new int[] {3, 3, 2});
        Files.writeString(d.resolve("pairs.txt"), "1\t1\nid0\t1\t9\nid1\t1\tid2\t1\n");
        Cli r = Cli.run("train", "--backend", "reference", "--data", d.toString(), "--run-dir", tmp.resolve("r").toString());
        assertEquals(1, r.code, r.toString());
        assertTrue(r.err.contains("missing") && r.err.contains("id0/id0_0009"), r.err);
    }

    @Test
    void evalOfATruncatedOrMissingCheckpoint() throws Exception {
        Files.write(tmp.resolve("bad.safetensors"), new byte[] {1, 0, 0, 0});
        Cli r = Cli.run("eval", "--backend", "reference", tmp.resolve("bad.safetensors").toString());
        assertEquals(1, r.code, r.toString());
        assertTrue(r.err.contains("truncated"), r.err);
        Cli m = Cli.run("eval", "--backend", "reference", tmp.resolve("nothing-here").toString());
        assertEquals(1, m.code, m.toString());
        assertTrue(m.err.contains("not found"), m.err);
    }

    @Test
    void resumeOfSomethingThatIsNotARun() {
        Cli r = Cli.run("train", "--resume", tmp.toString());
        assertEquals(2, r.code, r.toString());
        assertTrue(r.err.contains("config.json"), r.err);
    }
}
