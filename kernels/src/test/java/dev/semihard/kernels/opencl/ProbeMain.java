package dev.semihard.kernels.opencl;

/** Prints the OpenCL probe's answer on one line (run in a child JVM by {@link OpenClProbeTest}). */
public final class ProbeMain {
    private ProbeMain() {}

    public static void main(String[] args) {
        var a = new OpenClBackendProvider().probe();
        System.out.println((a.available() ? "AVAILABLE " : "UNAVAILABLE ") + a.detail());
    }
}
