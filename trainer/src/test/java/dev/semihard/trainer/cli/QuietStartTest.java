package dev.semihard.trainer.cli;

import dev.semihard.trainer.Main;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A quiet start on a machine without OpenCL: {@code semihard info} in a child JVM whose OpenCL
 * loader cannot be found (LWJGL pointed at a library name that is nowhere on the library path, which
 * made LWJGL print its advice block before the probe was quieted) prints none of LWJGL's own
 * "[LWJGL] Failed to load a library" advice, on stdout or stderr, and exactly one backend line that
 * names the choice and why the faster backends were skipped. (CUDA fails the ordinary way on a
 * machine without an NVIDIA driver; on a GPU machine the line names cuda instead.)
 */
class QuietStartTest {
    /** A library name the loader searches for and does not find, as libOpenCL.so.1 on a machine without OpenCL. */
    static final String MISSING = "libOpenCL-absent.so.1";
    /** A row of info's table: name, priority, status, device or reason. */
    static final java.util.regex.Pattern ROW = java.util.regex.Pattern.compile("^(\\S+)\\s+(\\d+)\\s+(available|unavailable)\\s+(.*)$");

    @Test
    void infoWithoutAnOpenClLoaderPrintsOneBackendLineAndNothingFromLwjgl() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx512m", "-Dorg.lwjgl.opencl.libname=" + MISSING,
                "-cp", cp, Main.class.getName(), "info"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("SEMIHARD_BACKEND");
        Process p = pb.start();
        byte[] bytes = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the child JVM did not finish");
        String out = new String(bytes, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), out);
        assertFalse(out.contains("[LWJGL]"), "LWJGL printed its own messages:\n" + out);
        List<String> lines = out.lines().filter(l -> l.startsWith("backend: ")).toList();
        assertEquals(1, lines.size(), "expected one backend line:\n" + out);
        String line = lines.get(0);
        String opencl = out.lines().filter(l -> l.startsWith("opencl ")).findFirst().orElse("");
        assertTrue(opencl.contains("unavailable") && opencl.contains("no OpenCL loader") && opencl.contains(MISSING),
                "the table says why OpenCL is unavailable, naming the library tried:\n" + out);
        // the line is what the table implies: the first available backend by priority, and every faster one with its reason
        List<String[]> rows = new ArrayList<>();
        for (String l : out.lines().toList()) {
            java.util.regex.Matcher m = ROW.matcher(l);
            if (m.matches()) rows.add(new String[]{m.group(1), m.group(2), m.group(3), m.group(4)});
        }
        rows.sort((a, b) -> Integer.compare(Integer.parseInt(b[1]), Integer.parseInt(a[1])));
        StringBuilder skipped = new StringBuilder();
        String expected = null;
        for (String[] r : rows) {
            if (r[2].equals("available")) {
                expected = "backend: " + r[0] + " (" + r[3] + ")" + (skipped.length() > 0 ? "; skipped " + skipped : "");
                break;
            }
            skipped.append(skipped.length() > 0 ? "; " : "").append(r[0]).append(": ").append(r[3]);
        }
        assertTrue(rows.size() >= 3, "the table lists cuda, opencl and reference:\n" + out);
        assertEquals(expected, line);
        if (!line.startsWith("backend: cuda ") && !line.startsWith("backend: opencl "))
            assertTrue(line.contains("opencl: no OpenCL loader"), "the line says why OpenCL was skipped: " + line);
    }
}
