package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.BackendProvider;
import dev.semihard.engine.backend.Backends;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The availability probe and device selection: the three "unavailable" answers, each provoked for real in
 * a child JVM (a bogus loader name, an ICD directory with no driver) or through the message mapping, and
 * selection by name through {@link Backends}.
 */
class OpenClProbeTest {

    /** Runs {@link ProbeMain} in a child JVM; returns its output line. */
    private static String probeInChild(List<String> jvmArgs, Map<String, String> env) throws IOException, InterruptedException {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(cp);
        cmd.add(ProbeMain.class.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
        String text = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "the probe must never crash the program; output:\n" + text);
        return text.lines().filter(l -> l.startsWith("AVAILABLE") || l.startsWith("UNAVAILABLE")).findFirst()
                .orElseThrow(() -> new AssertionError("no probe line in:\n" + text));
    }

    @Test
    void missingLoaderIsReportedNotThrown() throws Exception {
        String line = probeInChild(List.of("-Dorg.lwjgl.opencl.libname=/nonexistent/libOpenCL.so.1"), Map.of());
        assertTrue(line.startsWith("UNAVAILABLE no OpenCL loader"), line);
        assertTrue(line.contains("/nonexistent/libOpenCL.so.1"), "names the library it tried: " + line);
    }

    @Test
    void noInstalledDriverIsNoPlatform(@org.junit.jupiter.api.io.TempDir File emptyVendors) throws Exception {
        OpenClTestSupport.assumeLoaderPresent();
        String line = probeInChild(List.of(), Map.of("OCL_ICD_VENDORS", emptyVendors.getAbsolutePath(),
                "OPENCL_VENDOR_PATH", emptyVendors.getAbsolutePath()));
        assertTrue(line.startsWith("UNAVAILABLE no platform"), line);
    }

    @Test
    void messagesNameTheProblemAndTheFix() {
        String noIcd = OpenClRuntime.platformMessage(OpenClRuntime.CL_PLATFORM_NOT_FOUND_KHR);
        assertTrue(noIcd.startsWith("no platform") && noIcd.contains("-1001") && noIcd.contains("pocl-opencl-icd"), noIcd);
        assertTrue(OpenClRuntime.platformMessage(0).startsWith("no platform"));
        assertTrue(OpenClRuntime.deviceMessage(List.of("Some Platform")).startsWith("no device"));
        String loader = OpenClRuntime.loaderMessage(new UnsatisfiedLinkError("Failed to locate library"));
        assertTrue(loader.contains("not found in the system library paths"), loader);
        assertTrue(loader.startsWith("no OpenCL loader") && loader.contains("ocl-icd-libopencl1"), loader);
        assertEquals("CL_OUT_OF_RESOURCES (-5)", OpenClRuntime.errorName(-5));
        assertEquals("error -9999", OpenClRuntime.errorName(-9999));
    }

    @Test
    void providerIsRegisteredAsOpenclWithPriority50() {
        BackendProvider p = Backends.providers().stream().filter(x -> x.name().equals("opencl")).findFirst()
                .orElseThrow(() -> new AssertionError("no 'opencl' provider on the class path"));
        assertEquals(50, p.priority());
        Availability a1 = p.probe(), a2 = p.probe();
        assertTrue(a1 == a2, "the probe answer is cached");
    }

    @Test
    void rankDependsOnTheDeviceType() {
        OpenClTestSupport.assumeOpenCl();
        BackendProvider p = new OpenClBackendProvider();
        Availability a = p.probe();
        boolean cpu = OpenClRuntime.defaultDeviceIsCpu();
        // PoCL (a CPU device) ranks below the cpu backend's 40; a GPU above it
        assertEquals(cpu ? OpenClBackendProvider.CPU_DEVICE_PRIORITY : OpenClBackendProvider.GPU_PRIORITY, p.priority(a));
        assertTrue(cpu ? p.priority(a) < 40 : p.priority(a) > 40);
        assertTrue(p.priorityReason(a).contains(cpu ? "CPU" : "GPU"), p.priorityReason(a));
        assertEquals(50, p.priority(Availability.no("none")), "unavailable: the static priority");
    }

    @Test
    void createdByNameAndDeviceSelection() {
        OpenClTestSupport.assumeOpenCl();
        try (Backend b = Backends.create("opencl")) {
            assertEquals("opencl", b.name());
            assertTrue(!b.deviceDescription().isBlank());
        }
        // device 0, a name substring, and the platform extra by index and by name all pick a device
        try (Backend b = Backends.create("opencl", new BackendOptions("0", "fp32", 0, Map.of("opencl.platform", "0")))) {
            assertEquals("opencl", b.name());
        }
        List<OpenClRuntime.DeviceInfo> devices = OpenClRuntime.devicesOrThrow();
        OpenClRuntime.DeviceInfo first = devices.get(0);
        String sub = first.platformName().trim().split("\\s+")[0];
        assertEquals(first.device(), OpenClRuntime.select(devices, sub, "0").device());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OpenClRuntime.select(devices, null, "no-such-device-xyz"));
        assertTrue(e.getMessage().contains("no-such-device-xyz") && e.getMessage().contains("devices:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OpenClRuntime.select(devices, "99", null));
        assertTrue(e.getMessage().contains("opencl.platform 99"), e.getMessage());
    }

    @Test
    void kernelSourcesAreOnTheClassPathAndNamedLikeTheBackendMethods() {
        String all = String.join("\n", OpenClBackend.loadSources());
        for (String op : new String[]{"conv2dForward", "conv2dBackwardData", "conv2dBackwardFilter", "maxPool2dForward",
                "maxPool2dBackward", "batchNormForwardInference", "batchNormBackward", "batchNormReluForwardInference",
                "batchNormReluBackward", "linearForward", "linearBackwardData",
                "linearBackwardWeight", "l2NormalizeForward", "l2NormalizeBackward", "pairwiseDistanceForward",
                "pairwiseDistanceBackward", "sgdUpdate", "adamUpdate", "adagradUpdate", "axpy", "scale", "add",
                "reluForward", "reluBackward", "sumSquares", "fill", "globalAvgPoolForward", "globalAvgPoolBackward"})
            assertTrue(all.contains("__kernel void " + op + "("), "kernel " + op + " is missing");
        assertTrue(all.contains("__kernel void tripletLossMine("));
    }
}
