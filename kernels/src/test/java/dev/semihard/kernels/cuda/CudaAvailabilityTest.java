package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.Availability;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendProvider;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.conformance.BackendConformanceTest;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What happens without a GPU (this is what CI sees): the probe answers "unavailable" with a reason
 * instead of throwing, {@code --backend cuda} fails with a clear message, and {@code auto} falls back.
 * On a machine with a GPU, the probe must say available and describe the device.
 */
class CudaAvailabilityTest {
    private static BackendProvider cudaProvider() {
        return Backends.providers().stream().filter(p -> p.name().equals("cuda")).findFirst()
                .orElseThrow(() -> new AssertionError("no 'cuda' provider registered in META-INF/services"));
    }

    @Test
    void providerIsRegisteredWithTheHighestPriority() {
        BackendProvider p = cudaProvider();
        assertEquals(100, p.priority());
        assertEquals("cuda", Backends.providers().get(0).name(), "cuda must be tried first by auto");
    }

    @Test
    void probeNeverThrowsAndIsCached() {
        BackendProvider p = cudaProvider();
        Availability first = assertDoesNotThrow(p::probe);
        Availability second = assertDoesNotThrow(p::probe);
        assertSame(first, second, "the probe answer is cached");
        assertNotNull(first.detail());
        assertFalse(first.detail().isBlank());
        // a second, uncached probe after the first failure sees NoClassDefFoundError-style failures: still no throw
        Availability again = assertDoesNotThrow(CudaBackendProvider::probeOnce);
        assertEquals(first.available(), again.available(), "uncached probe agrees: " + again.detail());
        if (BackendConformanceTest.required("cuda"))
            assertTrue(first.available(), "SEMIHARD_REQUIRE lists cuda but the probe says: " + first.detail());
    }

    @Test
    void withoutGpuExplicitSelectionFailsClearlyAndAutoFallsBack() {
        Availability a = cudaProvider().probe();
        Assumptions.assumeFalse(a.available(), "a CUDA device is present: " + a.detail());
        assertTrue(a.detail().contains("CUDA"), "reason names CUDA: " + a.detail());
        Backends.BackendUnavailableException e = assertThrows(Backends.BackendUnavailableException.class,
                () -> Backends.create("cuda"));
        assertTrue(e.getMessage().contains("'cuda' is unavailable"), e.getMessage());
        assertTrue(e.getMessage().contains(a.detail()), "the message carries the probe's reason: " + e.getMessage());
        try (Backend b = Backends.create("auto")) {
            assertNotEquals("cuda", b.name());
        }
    }

    @Test
    void aDriverOverrideThatCannotBeUsedIsReportedNotLoaded() throws Exception {
        String before = System.getProperty(CudaBackendProvider.DRIVER_PROPERTY);
        java.nio.file.Path text = java.nio.file.Files.createTempFile("not-a-driver", ".so.1");
        try {
            System.setProperty(CudaBackendProvider.DRIVER_PROPERTY, "/nonexistent/libcuda.so.1");
            String missing = CudaBackendProvider.loadDriverOverride();
            assertNotNull(missing);
            assertTrue(missing.contains("-D" + CudaBackendProvider.DRIVER_PROPERTY) && missing.contains("does not exist"), missing);
            java.nio.file.Files.writeString(text, "not an ELF file");
            System.setProperty(CudaBackendProvider.DRIVER_PROPERTY, text.toString());
            String bad = CudaBackendProvider.loadDriverOverride();
            assertNotNull(bad);
            assertTrue(bad.contains("cannot be loaded"), bad);
            System.clearProperty(CudaBackendProvider.DRIVER_PROPERTY);
            if (System.getenv(CudaBackendProvider.DRIVER_ENV) == null)
                assertNull(CudaBackendProvider.loadDriverOverride(), "no override: nothing to load, nothing to report");
        } finally {
            if (before == null) System.clearProperty(CudaBackendProvider.DRIVER_PROPERTY);
            else System.setProperty(CudaBackendProvider.DRIVER_PROPERTY, before);
            java.nio.file.Files.deleteIfExists(text);
        }
    }

    @Test
    void linkErrorsAreTurnedIntoOneLine() {
        UnsatisfiedLinkError e = new UnsatisfiedLinkError("Error while loading native library \"JCudaDriver-12.6.0-linux-x86_64\"");
        e.addSuppressed(new Throwable("libcuda.so.1: cannot open shared object file: No such file or directory"));
        assertEquals("no CUDA driver (libcuda.so.1 not found)", CudaBackendProvider.linkReason(e));
        String other = CudaBackendProvider.linkReason(new UnsatisfiedLinkError("something else\nmore"));
        assertTrue(other.startsWith("no CUDA driver (JCuda's native library could not be loaded: something else"), other);
    }
}
