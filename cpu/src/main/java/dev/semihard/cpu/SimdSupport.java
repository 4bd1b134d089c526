package dev.semihard.cpu;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.logging.Logger;

/**
 * Chooses the CPU backend's {@link Kernels}: the Vector API ones where they run fast, else the scalar
 * loops, and says why once in the log.
 *
 * <p>The Vector API is only fast when C2 compiles it to SIMD instructions; otherwise every
 * {@code FloatVector} is a heap object and the "SIMD" loop is 10-100x slower than plain loops. So the
 * vector kernels are used only when all of these hold:
 * <ol>
 *   <li>the module {@code jdk.incubator.vector} is in the boot layer ({@code --add-modules jdk.incubator.vector});</li>
 *   <li>the JVM is HotSpot with C2 ("Server" VM, {@code TieredStopAtLevel} not below 4, not {@code -Xint});</li>
 *   <li>the preferred vector is at least 128 bits ({@code MaxVectorSize} can lower it);</li>
 *   <li>the JVM uses hardware FMA ({@code UseFMA}; without it each {@code fma} is a slow software call).</li>
 * </ol>
 * The system property {@value #PROPERTY} = {@code auto} (default) | {@code vector} | {@code scalar}
 * overrides the choice: {@code scalar} forces the plain loops, {@code vector} skips checks 2 to 4
 * (the module is still required). Nothing here is x86-specific: ARM NEON (128 bits, FMA) qualifies.
 */
final class SimdSupport {
    static final String PROPERTY = "semihard.cpu.simd";
    private static final Logger LOG = Logger.getLogger(SimdSupport.class.getName());
    private static final Object LOCK = new Object();
    private static String logged;

    private SimdSupport() {}

    /** The chosen kernels and the reason, for a setting of {@value #PROPERTY}. */
    record Choice(Kernels kernels, String reason) {}

    /**
     * The kernels for the current setting; a fallback to the scalar loops is logged once per distinct reason
     * (the SIMD choice is not: the backend line already names the kernels, and a probe prints nothing of its own).
     */
    static Choice choose() {
        Choice c = choose(System.getProperty(PROPERTY, "auto"));
        synchronized (LOCK) {
            if (c.kernels() instanceof ScalarKernels && !c.reason().equals(logged)) {
                logged = c.reason();
                LOG.info("cpu backend: " + c.kernels().describe() + " (" + c.reason() + ")");
            }
        }
        return c;
    }

    static Choice choose(String setting) {
        String s = setting == null ? "auto" : setting.trim().toLowerCase(Locale.ROOT);
        switch (s) {
            case "scalar":
                return new Choice(new ScalarKernels(), PROPERTY + "=scalar");
            case "vector":
            case "auto":
                break;
            default:
                throw new IllegalArgumentException("-D" + PROPERTY + "=" + setting + " is not a setting: use auto, vector or scalar");
        }
        String problem = moduleProblem();
        if (problem == null && s.equals("auto")) problem = speedProblem();
        if (problem != null) return new Choice(new ScalarKernels(), "the Vector API would not be fast: " + problem);
        return new Choice(new VectorKernels(), s.equals("vector") ? PROPERTY + "=vector" : "C2, " + VectorKernels.bits() + "-bit vectors, FMA");
    }

    /** Null when jdk.incubator.vector is resolved in this JVM; else what is missing and the fix. */
    static String moduleProblem() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty())
            return "module jdk.incubator.vector is not loaded (run java with --add-modules jdk.incubator.vector)";
        return null;
    }

    /** Null when C2, >= 128-bit vectors and hardware FMA are all there; else the first one missing. */
    static String speedProblem() {
        String vm = System.getProperty("java.vm.name", "");
        if (!vm.contains("Server VM")) return "not the HotSpot server VM (java.vm.name = " + vm + ")";
        String info = System.getProperty("java.vm.info", "");
        if (info.contains("interpreted mode")) return "the JVM runs interpreted (-Xint)";
        String tier = vmOption("TieredStopAtLevel");
        if (tier != null && Integer.parseInt(tier) < 4) return "C2 is off (-XX:TieredStopAtLevel=" + tier + ")";
        if ("false".equals(vmOption("UseCompiler"))) return "the JIT is off (-XX:-UseCompiler)";
        int bits = VectorKernels.bits();
        if (bits < 128) return "the preferred vector is " + bits + " bits (under 128; see -XX:MaxVectorSize)";
        if ("false".equals(vmOption("UseFMA"))) return "the JVM does not use hardware FMA (UseFMA is false)";
        return null;
    }

    /** A HotSpot VM option's value, or null when it cannot be read (no jdk.management, not HotSpot). */
    private static String vmOption(String name) {
        try {
            Class<?> cls = Class.forName("com.sun.management.HotSpotDiagnosticMXBean");
            Object bean = ManagementFactory.getPlatformMXBean(cls.asSubclass(java.lang.management.PlatformManagedObject.class));
            Object opt = cls.getMethod("getVMOption", String.class).invoke(bean, name);
            return (String) opt.getClass().getMethod("getValue").invoke(opt);
        } catch (Throwable t) {
            return null;
        }
    }
}
