package dev.semihard.kernels.cuda.emulated;

import dev.semihard.engine.backend.Backend;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import static jcuda.driver.JCudaDriver.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The emulator holds the kernels to CUDA's rules, or its green conformance run would mean little:
 * warp operations give CUDA's results, a missing __syncthreads changes the result, a write past the
 * end of a buffer and a divergent barrier fail the launch (kernels in src/test/cudaemu/shemu_selfcheck.cu).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ShemuSelfCheckTest {
    private Backend backend;       // holds the context current
    private CUmodule module;

    @BeforeAll
    void open() {
        backend = Shemu.openOrSkip();
        module = new CUmodule();
        cuModuleLoadData(module, new byte[]{0x50, (byte) 0xED, 0x55, (byte) 0xBA, 0, 0, 0, 0});   // a fatbin's magic
    }

    @AfterAll
    void close() { if (backend != null) backend.close(); }

    private int launch(String name, int threads, Object... args) {
        CUfunction f = new CUfunction();
        cuModuleGetFunction(f, module, name);
        Pointer[] ps = new Pointer[args.length];
        for (int i = 0; i < args.length; i++)
            ps[i] = args[i] instanceof CUdeviceptr d ? Pointer.to(d) : Pointer.to(new int[]{(Integer) args[i]});
        try {
            cuLaunchKernel(f, 1, 1, 1, threads, 1, 1, 0, null, Pointer.to(ps), null);
            return 0;
        } catch (CudaException e) {
            return -1;
        }
    }

    private static CUdeviceptr alloc(int ints) {
        CUdeviceptr p = new CUdeviceptr();
        cuMemAlloc(p, 4L * ints);
        return p;
    }

    private static int[] read(CUdeviceptr p, int ints) {
        int[] out = new int[ints];
        cuMemcpyDtoH(Pointer.to(out), p, 4L * ints);
        return out;
    }

    @Test
    void warpOperationsFollowCuda() {
        CUdeviceptr out = alloc(6 * 64);
        assertEquals(0, launch("shemuWarpOps", 64, out));
        int[] o = read(out, 6 * 64);
        for (int t = 0; t < 64; t++) {
            int warp = t / 32, lane = t % 32;
            assertEquals(5 + 32 * warp, o[t], "shfl t=" + t);
            assertEquals(t ^ 1, o[64 + t], "shfl_xor t=" + t);
            assertEquals((t % 16) + 3 < 16 ? t + 3 : t, o[128 + t], "shfl_down width 16 t=" + t);
            assertEquals(lane >= 2 ? t - 2 : t, o[192 + t], "shfl_up t=" + t);
            assertEquals(0xaaaaaaaa, o[256 + t], "ballot t=" + t);
            assertEquals(warp == 1 ? 3 : 2, o[320 + t], "any/all t=" + t);
        }
        cuMemFree(out);
    }

    @Test
    void aMissingBarrierChangesTheResult() {
        CUdeviceptr out = alloc(1);
        assertEquals(0, launch("shemuWithBarrier", 256, out));
        assertEquals(32896, read(out, 1)[0], "with the barrier");
        boolean differs = false;
        for (int i = 0; i < 3 && !differs; i++) {      // thread 0 runs last with probability 1/256
            assertEquals(0, launch("shemuMissingBarrier", 256, out));
            differs = read(out, 1)[0] != 32896;
        }
        assertTrue(differs, "three runs without the barrier all summed correctly: the shuffled order is not working");
        cuMemFree(out);
    }

    @Test
    void aWritePastTheEndFailsTheLaunch() {
        CUdeviceptr out = alloc(10);
        assertEquals(-1, launch("shemuOverrun", 32, out, 10), "writing element 10 of 10 must fail");
        assertEquals(0, launch("shemuOverrun", 32, out, 9), "element 9 is inside");
        cuMemFree(out);
    }

    /** The packed-argument launch CudaBackend uses: every parameter arrives, and a wrong size is refused. */
    @Test
    void packedArgumentsArriveAndAWrongSizeIsRefused() {
        CUdeviceptr out = alloc(1), any = alloc(1);
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocateDirect(256).order(java.nio.ByteOrder.nativeOrder());
        java.nio.ByteBuffer size = java.nio.ByteBuffer.allocateDirect(8).order(java.nio.ByteOrder.nativeOrder());
        // shemuParams16(float* out, p1, p2, double* p3, int i4..i7, long long l8, float f9, f10, p11, p12, int i13..i15)
        long outAddr = address(out), anyAddr = address(any);
        buf.putLong(0, outAddr).putLong(8, anyAddr).putLong(16, 0L).putLong(24, anyAddr);
        buf.putInt(32, 4).putInt(36, 5).putInt(40, 6).putInt(44, 7);
        buf.putLong(48, 8L).putFloat(56, 9.5f).putFloat(60, 10.25f);
        buf.putLong(64, 0L).putLong(72, 0L).putInt(80, 13).putInt(84, 14).putInt(88, 15);
        Pointer extra = Pointer.to(CU_LAUNCH_PARAM_BUFFER_POINTER, Pointer.to(buf), CU_LAUNCH_PARAM_BUFFER_SIZE, Pointer.to(size),
                CU_LAUNCH_PARAM_END);
        CUfunction f = new CUfunction();
        cuModuleGetFunction(f, module, "shemuParams16");
        size.putLong(0, 92);
        cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, null, null, extra);
        float[] got = new float[1];
        cuMemcpyDtoH(Pointer.to(got), out, 4);
        assertEquals(4 + 5 + 6 + 7 + 8 + 13 + 14 + 15 + 9.5f + 10.25f + 1000f + 2000f, got[0], "every packed argument in its place");
        size.putLong(0, 96);
        assertThrows(CudaException.class, () -> cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, null, null, extra),
                "a buffer of another size than the parameters' is refused");
        cuMemFree(out);
        cuMemFree(any);
    }

    private static long address(CUdeviceptr p) {
        String s = p.toString();     // "CUdeviceptr[nativePointer=0x...,byteOffset=0x0]"
        int at = s.indexOf("0x");
        return Long.parseUnsignedLong(s.substring(at + 2, s.indexOf(',', at)), 16);
    }

    /** common.cuh's sh_fastdiv, which the convolution loaders divide with, equals / and % (host arithmetic = device arithmetic for unsigned ints). */
    @Test
    void fastDivisionIsExact() {
        java.util.List<Integer> ds = new java.util.ArrayList<>();
        for (int d = 1; d <= 3000; d++) ds.add(d);
        for (long d = 3001; d < Integer.MAX_VALUE; d = d * 5 / 3 + 7) ds.add((int) d);
        ds.add(Integer.MAX_VALUE);
        int n = ds.size();
        int[] host = ds.stream().mapToInt(Integer::intValue).toArray();
        CUdeviceptr div = alloc(n), out = alloc(2 * n);
        cuMemcpyHtoD(div, Pointer.to(host), 4L * n);
        CUfunction f = new CUfunction();
        cuModuleGetFunction(f, module, "shemuFastDiv");
        cuLaunchKernel(f, (n + 255) / 256, 1, 1, 256, 1, 1, 0, null,
                Pointer.to(Pointer.to(div), Pointer.to(new int[]{n}), Pointer.to(out)), null);
        int[] r = read(out, 2 * n);
        long checked = 0;
        for (int i = 0; i < n; i++) {
            assertEquals(0, r[i], "wrong quotients for divisor " + host[i]);
            checked += r[n + i];
        }
        assertTrue(checked > 15_000_000, "checked only " + checked + " quotients");
        cuMemFree(div);
        cuMemFree(out);
    }

    @Test
    void aDivergentBarrierFailsTheLaunch() {
        CUdeviceptr out = alloc(32);
        assertEquals(-1, launch("shemuDivergentBarrier", 32, out));
        cuMemFree(out);
    }
}
