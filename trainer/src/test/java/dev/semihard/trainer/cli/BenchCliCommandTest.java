package dev.semihard.trainer.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code semihard bench}'s case selection and {@code --profile} options, on the reference backend at the smallest size. */
class BenchCliCommandTest {
    @TempDir
    Path tmp;

    @Test
    void selectionAndProfileOptionsReachTheResults() throws Exception {
        Cli r = Cli.run("bench", "--backend", "reference", "--threads", "1", "--workloads", "W1", "--quick", "--w1-batches", "256",
                "--w1-strategies", "batch-hard", "--profile", "--out", tmp.toString());
        assertEquals(0, r.code, r.toString());
        String json = Files.readString(tmp.resolve("semihard-reference.json"));
        assertEquals(1, json.lines().filter(l -> l.contains("\"key\": ")).count(), json);
        assertTrue(json.contains("\"key\": \"W1/batch-hard/P32xK8\""), json);
        assertTrue(json.contains("\"profile_iterations\": 5"), json);
        assertTrue(json.contains("\"command\": \"semihard bench --backend reference"), json);
    }

    @Test
    void unknownCasesAreUsageErrorsNamingTheValue() {
        Cli r = Cli.run("bench", "--backend", "reference", "--w1-batches", "1000", "--out", tmp.toString());
        assertNotEquals(0, r.code);
        assertTrue(r.err.contains("1000") && r.err.contains("1800"), r.toString());
        r = Cli.run("bench", "--backend", "reference", "--w2-models", "resnet50", "--out", tmp.toString());
        assertNotEquals(0, r.code);
        assertTrue(r.err.contains("resnet50"), r.toString());
        r = Cli.run("bench", "--backend", "reference", "--w2-models", "face-resnet18", "--out", tmp.toString());
        assertNotEquals(0, r.code);
        assertTrue(r.err.contains("face-resnet18") && r.err.contains("not one of W2's workloads"), r.toString());
    }

    @Test
    void theRecordedCommandHasTheSubcommandOnce() {
        assertEquals("semihard bench --profile", BenchCliCommand.commandLine(List.of("bench", "--profile")));
        assertEquals("semihard bench --profile", BenchCliCommand.commandLine(List.of("--profile")));
    }
}
