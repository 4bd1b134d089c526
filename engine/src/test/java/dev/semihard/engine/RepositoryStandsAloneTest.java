package dev.semihard.engine;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The repository stands on its own: no file refers to a folder beside it (the benchmark definitions
 * live in docs/benchmarks.md, which every reference points to), and the Markdown links to that page
 * resolve. Scans every text file of the repository except build output (target/), .git and run
 * folders (runs/).
 */
class RepositoryStandsAloneTest {
    /** The folder name followed by a slash, built in pieces so that this file itself does not match. */
    static final String FOLDER = "shared" + "/";
    /** A path into that folder: relative, with ../ in front, or absolute. */
    static final Pattern OUTSIDE = Pattern.compile("(?<![A-Za-z0-9_.-])(\\.\\./)*" + FOLDER);
    static final Pattern BENCHMARKS_LINK = Pattern.compile("\\]\\(([^)#\\s]*benchmarks\\.md)(#[^)]*)?\\)");
    static final Set<String> SKIPPED_DIRS = Set.of(".git", "target", "runs", "node_modules", "__pycache__");

    static Path root() {
        Path module = Path.of(System.getProperty("basedir", ".")).toAbsolutePath().normalize();
        Path root = module.getParent();
        assertTrue(root != null && Files.isRegularFile(root.resolve("pom.xml")) && Files.isDirectory(root.resolve("engine")),
                "expected the repository root above " + module);
        return root;
    }

    /** Every text file under root (a file with a NUL byte in its first 8 KiB is binary and skipped). */
    static List<Path> textFiles(Path root) throws IOException {
        List<Path> out = new ArrayList<>();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                return !dir.equals(root) && SKIPPED_DIRS.contains(dir.getFileName().toString())
                        ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                if (attrs.isRegularFile() && !binary(file)) out.add(file);
                return FileVisitResult.CONTINUE;
            }
        });
        return out;
    }

    static boolean binary(Path f) {
        try (var in = Files.newInputStream(f)) {
            byte[] head = in.readNBytes(8192);
            for (byte b : head) if (b == 0) return true;
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void noFileRefersToASharedFolderOutsideTheRepository() throws IOException {
        Path root = root();
        List<Path> files = textFiles(root);
        assertTrue(files.size() > 100, "scanned only " + files.size() + " files under " + root);
        List<String> hits = new ArrayList<>();
        for (Path f : files) {
            String text = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
            String[] lines = text.split("\n", -1);
            for (int i = 0; i < lines.length; i++)
                if (OUTSIDE.matcher(lines[i]).find()) hits.add(root.relativize(f) + ":" + (i + 1) + ": " + lines[i].strip());
        }
        assertTrue(hits.isEmpty(), "files refer to a folder outside the repository; point them at docs/benchmarks.md"
                + " (or another file in the repository) instead:\n" + String.join("\n", hits));
    }

    @Test
    void thePatternCatchesTheFormsItIsFor() {
        for (String s : new String[]{"see " + FOLDER + "BENCHMARKS.md", "(../" + FOLDER + "GPU.md)", "/work/" + FOLDER + "x",
                "`" + FOLDER + "seed-question.txt`"})
            assertTrue(OUTSIDE.matcher(s).find(), s);
        for (String s : new String[]{"__shared__ float tile[16];", "shared memory", "docs/benchmarks.md", "un" + "shared" + "/x", "ld.shared.f32"})
            assertTrue(!OUTSIDE.matcher(s).find(), s);
    }

    @Test
    void linksToTheBenchmarkPageResolve() throws IOException {
        Path root = root();
        Path page = root.resolve("docs/benchmarks.md");
        assertTrue(Files.isRegularFile(page), "docs/benchmarks.md is missing");
        String doc = Files.readString(page, StandardCharsets.UTF_8);
        for (String must : new String[]{"**W1", "**W2", "**W3", "**data", "## Recipe Q", "`semihard`", "`batch-hard`", "`batch-all`",
                "`fmnist-cnn`", "`face-resnet10`"})
            assertTrue(doc.contains(must), "docs/benchmarks.md does not define " + must);
        List<String> broken = new ArrayList<>();
        int links = 0;
        for (Path f : textFiles(root)) {
            if (!f.getFileName().toString().endsWith(".md")) continue;
            Matcher m = BENCHMARKS_LINK.matcher(Files.readString(f, StandardCharsets.UTF_8));
            while (m.find()) {
                links++;
                Path target = f.getParent().resolve(m.group(1)).normalize();
                if (!target.equals(page)) broken.add(root.relativize(f) + ": " + m.group(1));
            }
        }
        assertTrue(links >= 3, "expected the READMEs to link docs/benchmarks.md, found " + links + " links");
        assertTrue(broken.isEmpty(), "links that do not reach docs/benchmarks.md:\n" + String.join("\n", broken));
    }
}
