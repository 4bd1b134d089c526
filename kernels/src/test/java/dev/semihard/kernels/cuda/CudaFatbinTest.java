package dev.semihard.kernels.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The packaged kernel binaries match the CUDA sources: the fatbins on the class path and the
 * committed prebuilt copies carry the SHA-256 of the .cu/.cuh files they were built from
 * (build-fatbins.sh writes it), and every .cu file has its fatbin.
 */
class CudaFatbinTest {
    static final Path SRC = Path.of("src/main/cuda");

    /** The same hash as build-fatbins.sh's sourceHash: sha256 over "sha256(file)  name\n" lines, names sorted. */
    static String sourceHash() throws IOException, NoSuchAlgorithmException {
        List<Path> files;
        try (Stream<Path> s = Files.list(SRC)) {
            files = s.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh"))
                    .sorted((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString())).toList();
        }
        StringBuilder lines = new StringBuilder();
        for (Path f : files) {
            String h = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
            lines.append(h).append("  ").append(f.getFileName()).append('\n');
        }
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(lines.toString().getBytes(StandardCharsets.UTF_8)));
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = CudaBackend.class.getResourceAsStream(CudaBackend.RESOURCE_DIR + name)) {
            assertNotNull(in, "missing class-path resource " + CudaBackend.RESOURCE_DIR + name);
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
        }
    }

    @Test
    void packagedFatbinsWereBuiltFromTheseSources() throws Exception {
        assertTrue(Files.isDirectory(SRC), "run from the kernels module directory");
        assertEquals(sourceHash(), resource("sources.sha256"),
                "the fatbins on the class path were built from other sources: rebuild the kernels module");
    }

    @Test
    void committedPrebuiltFatbinsMatchTheSources() throws Exception {
        String committed = Files.readString(SRC.resolve("prebuilt/sources.sha256")).trim();
        assertEquals(sourceHash(), committed, "kernels/src/main/cuda/prebuilt is stale: run "
                + "kernels/src/main/cuda/build-fatbins.sh --update-prebuilt and commit prebuilt/");
    }

    @Test
    void everyKernelFileHasANonEmptyFatbin() throws Exception {
        List<String> cu;
        try (Stream<Path> s = Files.list(SRC)) {
            cu = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu")).map(n -> n.substring(0, n.length() - 3)).sorted().toList();
        }
        assertEquals(List.of(CudaBackend.MODULES).stream().sorted().toList(), cu, "CudaBackend.MODULES lists every .cu file");
        for (String m : cu) {
            byte[] bin = CudaBackend.readResource(m + ".fatbin");
            assertTrue(bin.length > 1000, m + ".fatbin is too small");
            // fatbin magic 0xBA55ED50, little endian
            assertEquals(0x50, bin[0] & 0xff);
            assertEquals(0xED, bin[1] & 0xff);
            assertEquals(0x55, bin[2] & 0xff);
            assertEquals(0xBA, bin[3] & 0xff);
        }
    }

    /**
     * Every kernel CudaBackend can launch is in one of the fatbins (a misspelt name would otherwise
     * only fail on a GPU): the literal names in launch(...) / elementwise(...) calls, and each GEMM
     * family with the suffixes {@code gemm()} appends.
     */
    @Test
    void everyKernelTheBackendLaunchesExists() throws Exception {
        String java = Files.readString(Path.of("src/main/java/dev/semihard/kernels/cuda/CudaBackend.java"));
        TreeSet<String> names = new TreeSet<>();
        Matcher m = Pattern.compile("(?:launch|elementwise)\\(\"(\\w+)\"").matcher(java);
        while (m.find()) names.add(m.group(1));
        for (String g : List.of("conv2dForward", "conv2dBackwardData", "conv2dBackwardFilter", "linearForward",
                "linearBackwardData", "linearBackwardWeight"))
            for (String suffix : List.of("", "_small", "_pf", "_pf_small", "_m32", "_pf_m32", "_tf32", "_tf32_small", "_tf32_m32")) names.add(g + suffix);
        for (String g : List.of("pairwiseDistanceForward_diff", "pairwiseDistanceForward_dot"))
            for (String suffix : List.of("", "_small", "_pf", "_pf_small")) names.add(g + suffix);
        names.add("pairwiseDistanceForward_dot_x3");
        names.add("pairwiseDistanceForward_dot_x3_small");
        names.add("tripletBackward");
        names.add("tripletBackward_small");
        assertTrue(names.size() > 40, "found only " + names);
        List<String> bins = new ArrayList<>();
        for (String mod : CudaBackend.MODULES)
            bins.add(new String(CudaBackend.readResource(mod + ".fatbin"), StandardCharsets.ISO_8859_1));
        List<String> missing = new ArrayList<>();
        for (String n : names) {
            // the kernel symbol is NUL-terminated in the ELF string table
            if (bins.stream().noneMatch(b -> b.contains(n + "\0"))) missing.add(n);
        }
        assertEquals(List.of(), missing, "kernels launched by CudaBackend but absent from the fatbins");
    }
}
