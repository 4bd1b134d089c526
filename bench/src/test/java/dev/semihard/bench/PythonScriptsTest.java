package dev.semihard.bench;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java and Python halves share one result schema: a tiny W1 run of {@code semihard bench}
 * and of {@code bench_torch.py}, then {@code compare.py} pairs them by key and prints ratios, and
 * {@code make_results.py} renders a page. Skipped (with the reason) where no python3 with torch exists.
 */
@Tag("full-suite")   // the full tier only (22 s where PyTorch is installed): runs bench_torch.py and the result scripts
class PythonScriptsTest {

    @Test
    void javaAndPyTorchResultsPairUpInCompare(@TempDir Path dir) throws Exception {
        Path scripts = Files.isDirectory(Path.of("python")) ? Path.of("python") : Path.of("bench", "python");
        Assumptions.assumeTrue(Files.exists(scripts.resolve("bench_torch.py")), "bench/python not found from " + Path.of("").toAbsolutePath());
        String py = pythonWithTorch();
        Assumptions.assumeTrue(py != null, "no python3 with torch here (apt-get install python3-torch): skipping the schema check");

        Path run = dir.resolve("run");
        int rc = BenchCommand.run(new BenchCommand.Config("reference", List.of("W1"), true, run, 1, 256, 0, null),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertEquals(0, rc);
        Result torch = exec(List.of(py, scripts.resolve("bench_torch.py").toString(), "--device", "cpu", "--threads", "1",
                "--quick", "--workloads", "W1", "--max-batch", "256", "--out", run.toString()), 300);
        assertEquals(0, torch.rc, torch.out);
        assertTrue(Files.exists(run.resolve("torch-cpu.json")), torch.out);

        Result cmp = exec(List.of(py, scripts.resolve("compare.py").toString(), run.toString()), 60);
        assertEquals(0, cmp.rc, cmp.out);
        // every W1 strategy at B = 256 pairs a PyTorch implementation with the reference backend's time and a ratio
        for (String impl : List.of("tfa", "sorted"))
            assertTrue(cmp.out.lines().anyMatch(l -> l.startsWith("W1/semihard/P32xK8") && l.contains(impl) && l.trim().endsWith("x")),
                    "no paired semihard/" + impl + " row:\n" + cmp.out);
        assertTrue(cmp.out.lines().anyMatch(l -> l.startsWith("W1/batch-all/P32xK8") && l.trim().endsWith("x")), cmp.out);
        assertTrue(cmp.out.contains("W1 semihard B = 256: reference"), cmp.out);

        Path results = dir.resolve("results");
        Files.createDirectories(results);
        Files.move(run, results.resolve("cpu"));
        Path page = dir.resolve("RESULTS.md");
        Result mk = exec(List.of(py, scripts.resolve("make_results.py").toString(), "--results", results.toString(),
                "--out", page.toString()), 60);
        assertEquals(0, mk.rc, mk.out);
        String md = Files.readString(page);
        assertTrue(md.contains("## cpu:") && md.contains("| W1/semihard/P32xK8 | sorted |"), md);
    }

    record Result(int rc, String out) {}

    static Result exec(List<String> cmd, int timeoutSeconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return new Result(-1, "timed out: " + cmd);
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    /** python3 on the PATH, or Debian's /usr/bin/python3, whichever imports torch; null when neither does. */
    static String pythonWithTorch() {
        List<String> candidates = new ArrayList<>(List.of("python3", "/usr/bin/python3"));
        for (String py : candidates) {
            try {
                if (exec(List.of(py, "-c", "import torch"), 120).rc == 0) return py;
            } catch (IOException | InterruptedException e) {
                if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            }
        }
        return null;
    }
}
