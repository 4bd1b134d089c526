package dev.semihard.bench;

import dev.semihard.engine.util.Json;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The committed result files that {@code semihard bench} wrote ({@code results/*}/semihard-*.json) are
 * exactly what {@link Json#writePretty} writes today: reading one and writing it again gives the same
 * bytes, so the shared writer has not changed the format that bench/python/*.py and the results read.
 */
class ResultFilesTest {
    @Test
    void committedBenchResultsAreReproducedByteForByte() throws Exception {
        Path results = Path.of("results");
        assertTrue(Files.isDirectory(results), "run from the bench module folder (Maven does)");
        List<Path> files;
        try (Stream<Path> s = Files.walk(results)) {
            files = s.filter(p -> p.getFileName().toString().matches("semihard-.*\\.json")).sorted().toList();
        }
        assertFalse(files.isEmpty(), "no semihard-*.json under " + results.toAbsolutePath());
        for (Path f : files) {
            String text = Files.readString(f, StandardCharsets.UTF_8);
            assertEquals(text, Json.writePretty(Json.parse(text)) + "\n", f.toString());
        }
    }
}
