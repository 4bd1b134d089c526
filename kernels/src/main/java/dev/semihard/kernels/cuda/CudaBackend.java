package dev.semihard.kernels.cuda;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.backend.OptimizerParams;
import dev.semihard.engine.backend.PoolGeometry;
import dev.semihard.engine.backend.Strategy;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.CudaException;
import jcuda.driver.JCudaDriver;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static jcuda.driver.JCudaDriver.*;

/**
 * The CUDA backend: every {@link Backend} kernel as hand-written CUDA ({@code kernels/src/main/cuda}),
 * compiled by nvcc into fatbins (SASS sm_80 + sm_90, PTX compute_90) that ship as classpath
 * resources and are loaded with the driver API ({@code cuModuleLoadData}) through JCuda. Nothing but
 * the driver's {@code libcuda.so.1} is needed at run time: no cuBLAS, cuDNN, NVRTC or runtime API.
 *
 * <p>Runtime model:
 * <ul>
 *   <li>One device, its primary context, one stream; every call enqueues and returns. Only
 *       {@link #download}, {@link #sumSquares} (its result is a host array) and {@link #synchronize}
 *       wait for the device.</li>
 *   <li>A caching allocator: freed buffers go to per-size free lists and are reused (one stream, so
 *       reuse is ordered after every earlier use). After the first step of a training loop no
 *       {@code cuMemAlloc} happens. On out-of-memory the cache is emptied once and the allocation
 *       retried before a clear error is thrown.</li>
 *   <li>Uploads go through pinned staging slots with an event each, so {@link #upload} is
 *       asynchronous and the caller may reuse its array at once.</li>
 *   <li>GEMM-shaped kernels (convolutions, linear layers, distances) come in three versions: fp32
 *       128x128 tiles, fp32 64x64 tiles for small problems, and the same tiles on TF32 tensor cores
 *       (mma.sync) for convolutions and linear layers when {@link BackendOptions#precision()} is "tf32".</li>
 *   <li>Kernel profile ({@link KernelProfile}, opt-in with {@code profile=true} in
 *       {@link BackendOptions#extra()} or {@code -Dsemihard.profile=true}): {@link #launch} puts a pair of
 *       events around each launch, read only when the profile is ({@link CudaKernelProfile}). Off by
 *       default, and then a null check per launch.</li>
 * </ul>
 * Instances are not thread-safe (like the engine); a thread that is not the creating one makes the
 * context current on first use.
 */
public final class CudaBackend implements Backend, KernelProfile {
    /** The kernel files, one fatbin each, under {@code /dev/semihard/kernels/cuda/}. */
    static final String[] MODULES = {"elementwise", "conv", "layers", "embedding", "calibrate"};
    static final String RESOURCE_DIR = "/dev/semihard/kernels/cuda/";

    private static final int T = 256;                          // threads per block everywhere
    private static final long STAGE_SLOT = 32L << 20;          // bytes per pinned upload slot
    private static final int STAGE_SLOTS = 4;

    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUstream stream = new CUstream();
    private final List<CUmodule> modules = new ArrayList<>();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final String description;
    private final boolean tf32;
    private final int smCount;
    private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);
    /** Per-kernel device times, or null when profiling is off. */
    private final CudaKernelProfile profile;

    // caching allocator
    private final Map<Long, ArrayDeque<DevicePtr>> free = new HashMap<>();
    private long bytesInUse, peakBytes, bytesCached;

    // pinned staging for uploads
    private final Pointer[] stage = new Pointer[STAGE_SLOTS];
    private final CUevent[] stageEvent = new CUevent[STAGE_SLOTS];
    private int stageSlot;
    private long stageOff;
    private boolean stagingBroken;

    private boolean closed;

    /** Creates the backend on the device chosen by {@code options.device()} (index or name substring; null: 0). */
    public CudaBackend(BackendOptions options) {
        String missing = CudaBackendProvider.loadDriverOverride();
        if (missing != null) throw new IllegalStateException("cuda: " + missing);
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        int[] count = new int[1];
        cuDeviceGetCount(count);
        if (count[0] == 0) throw new IllegalStateException("cuda: no CUDA device");
        int index = selectDevice(options.device(), count[0]);
        cuDeviceGet(device, index);
        cuDevicePrimaryCtxRetain(context, device);
        cuCtxSetCurrent(context);
        current.set(true);
        cuStreamCreate(stream, 0);
        smCount = Integer.getInteger(PLAN_SM_COUNT_PROPERTY,
                attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT));
        if (smCount < 1) throw new IllegalArgumentException("-D" + PLAN_SM_COUNT_PROPERTY + "=" + smCount + ": give 1 or more");
        description = describe(device);
        tf32 = "tf32".equals(options.precision());
        profile = KernelProfile.requested(options) ? new CudaKernelProfile(stream) : null;
        for (String m : MODULES) {
            CUmodule mod = new CUmodule();
            cuModuleLoadData(mod, readResource(m + ".fatbin"));
            modules.add(mod);
        }
    }

    private static int selectDevice(String sel, int count) {
        if (sel == null || sel.isBlank()) return 0;
        try {
            int i = Integer.parseInt(sel.trim());
            if (i < 0 || i >= count)
                throw new IllegalArgumentException("cuda: device index " + i + " out of range: " + count + " device(s) found");
            return i;
        } catch (NumberFormatException e) {
            for (int i = 0; i < count; i++) {
                CUdevice d = new CUdevice();
                cuDeviceGet(d, i);
                if (deviceName(d).toLowerCase().contains(sel.toLowerCase())) return i;
            }
            throw new IllegalArgumentException("cuda: no device name contains '" + sel + "'; use an index 0.." + (count - 1));
        }
    }

    static String deviceName(CUdevice d) {
        byte[] name = new byte[256];
        cuDeviceGetName(name, name.length, d);
        int n = 0;
        while (n < name.length && name[n] != 0) n++;
        return new String(name, 0, n);
    }

    static String describe(CUdevice d) {
        int[] a = new int[1], b = new int[1];
        cuDeviceGetAttribute(a, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
        cuDeviceGetAttribute(b, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
        long[] mem = new long[1];
        cuDeviceTotalMem(mem, d);
        return deviceName(d) + " (sm_" + a[0] + b[0] + ", " + (mem[0] >> 30) + " GiB)";
    }

    private int attribute(int attr) {
        int[] v = new int[1];
        cuDeviceGetAttribute(v, attr, device);
        return v[0];
    }

    static byte[] readResource(String name) {
        try (InputStream in = CudaBackend.class.getResourceAsStream(RESOURCE_DIR + name)) {
            if (in == null)
                throw new IllegalStateException("cuda: kernel binary " + RESOURCE_DIR + name + " is missing from the class path;"
                        + " rebuild the kernels module (mvn -pl kernels package)");
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ================================================================== identity and memory

    @Override public String name() { return "cuda"; }

    @Override public String deviceDescription() { return description + (tf32 ? ", tf32" : ""); }

    /** Whether convolutions and linear layers use TF32 tensor cores. */
    public boolean tf32() { return tf32; }

    @Override public String precision() { return tf32 ? "tf32" : "fp32"; }

    /** The GPU's multiprocessors (what {@link #plan} fills). */
    public int smCount() { return smCount; }

    private void ctx() {
        if (closed) throw new IllegalStateException("cuda backend is closed");
        if (!current.get()) { cuCtxSetCurrent(context); current.set(true); }
    }

    private static long sizeClass(long bytes) {
        if (bytes <= 0) return 512;
        if (bytes <= (1L << 20)) return (bytes + 511) & ~511L;
        return (bytes + (2L << 20) - 1) & ~((2L << 20) - 1);
    }

    private CudaBuffer alloc(long floats) {
        ctx();
        if (floats < 0) throw new IllegalArgumentException("cuda: negative allocation " + floats);
        long cls = sizeClass(floats * 4);
        ArrayDeque<DevicePtr> list = free.get(cls);
        DevicePtr p = list == null ? null : list.poll();
        if (p != null) {
            bytesCached -= cls;
        } else {
            p = new DevicePtr();
            try {
                cuMemAlloc(p, cls);
            } catch (CudaException e) {
                // out of memory: give the cache (and the kept triplet scratch) back to the driver once and retry
                cuCtxSynchronize();
                releaseSymScratch();
                trimCache();
                try {
                    cuMemAlloc(p, cls);
                } catch (CudaException e2) {
                    throw new IllegalStateException(String.format(
                            "cuda: out of device memory: asked for %.1f MiB with %.1f MiB in use (%s). "
                                    + "Use a smaller batch (-P/-K) or the two-pass mode (--two-pass-chunk).",
                            cls / 1048576.0, bytesInUse / 1048576.0, e2.getMessage()), e2);
                }
            }
        }
        bytesInUse += cls;
        peakBytes = Math.max(peakBytes, bytesInUse);
        return new CudaBuffer(this, p, floats, cls);
    }

    /** Frees every cached (unused) block. */
    public void trimCache() {
        for (ArrayDeque<DevicePtr> l : free.values()) for (DevicePtr p : l) cuMemFree(p);
        free.clear();
        bytesCached = 0;
    }

    void release(CudaBuffer b) {
        if (closed) return;
        bytesInUse -= b.bytes;
        free.computeIfAbsent(b.bytes, k -> new ArrayDeque<>()).push(b.ptr);
        bytesCached += b.bytes;
    }

    @Override
    public Buffer allocate(long floats) {
        CudaBuffer b = alloc(floats);
        if (floats > 0) cuMemsetD32Async(b.ptr, 0, floats, stream);
        return b;
    }

    /** From the caching allocator like {@link #allocate}, without the memset. */
    @Override
    public Buffer allocateUninitialized(long floats) {
        return alloc(floats);
    }

    private CudaBuffer buf(Buffer b) {
        if (b == null) throw new IllegalArgumentException("cuda: null buffer");
        if (!(b instanceof CudaBuffer cb) || b.backend() != this)
            throw new IllegalArgumentException("cuda: buffer " + b + " belongs to another backend (" + b.backend().name()
                    + "); tensors cannot be mixed across backends, copy through the host instead");
        if (cb.isClosed()) throw new IllegalArgumentException("cuda: buffer " + b + " was already closed");
        return cb;
    }

    private CUdeviceptr ptr(Buffer b) { return buf(b).ptr; }

    private CUdeviceptr ptr(Buffer b, long offFloats) {
        CudaBuffer cb = buf(b);
        return offFloats == 0 ? cb.ptr : cb.ptr.withByteOffset(offFloats * 4);
    }

    /** The device address offFloats floats into b, as a kernel argument (a Long is passed as a 64-bit value). */
    private Long address(Buffer b, long offFloats) {
        return buf(b).ptr.address() + 4 * offFloats;
    }

    private static void range(String op, Buffer b, long off, long n) {
        if (off < 0 || n < 0 || off + n > b.size())
            throw new IllegalArgumentException("cuda " + op + ": range [" + off + ", " + (off + n) + ") outside a buffer of "
                    + b.size() + " floats");
    }

    /** Reserves {@code bytes} (<= one slot) of pinned staging, ordered after earlier copies from it; returns the offset in {@link #stageSlot}. */
    private long stageRegion(long bytes) {
        if (stage[0] == null) {
            for (int i = 0; i < STAGE_SLOTS; i++) {
                stage[i] = new Pointer();
                cuMemAllocHost(stage[i], STAGE_SLOT);
                stageEvent[i] = new CUevent();
                cuEventCreate(stageEvent[i], jcuda.driver.CUevent_flags.CU_EVENT_DISABLE_TIMING);
                cuEventRecord(stageEvent[i], stream);
            }
        }
        if (stageOff + bytes > STAGE_SLOT) {
            stageSlot = (stageSlot + 1) % STAGE_SLOTS;
            stageOff = 0;
            cuEventSynchronize(stageEvent[stageSlot]);   // the copies that last read this slot are done
        }
        long off = stageOff;
        stageOff += (bytes + 255) & ~255L;
        return off;
    }

    /** The host view of a staging region (native byte order). */
    private java.nio.ByteBuffer stageView(long off, long bytes) {
        return stage[stageSlot].getByteBuffer(off, bytes).order(ByteOrder.nativeOrder());
    }

    private void stageCopy(CUdeviceptr dst, long off, long bytes) {
        cuMemcpyHtoDAsync(dst, stage[stageSlot].withByteOffset(off), bytes, stream);
        cuEventRecord(stageEvent[stageSlot], stream);
    }

    @Override
    public void upload(float[] src, int srcOff, Buffer dst, long dstOff, int n) {
        ctx();
        range("upload", dst, dstOff, n);
        uploadBytes(ptr(dst, dstOff), 4L * n, v -> v.asFloatBuffer().put(src, srcOff, n), Pointer.to(src).withByteOffset(4L * srcOff));
    }

    /**
     * Copies {@code bytes} to dst, in stream order: through pinned staging when they fit in a slot ({@code fill}
     * writes them into the staging view), else (or when staging failed once) synchronously from {@code host}.
     */
    private void uploadBytes(CUdeviceptr dst, long bytes, java.util.function.Consumer<java.nio.ByteBuffer> fill, Pointer host) {
        if (bytes == 0) return;
        if (bytes <= STAGE_SLOT && !stagingBroken) {
            try {
                long off = stageRegion(bytes);
                fill.accept(stageView(off, bytes));
                stageCopy(dst, off, bytes);
                return;
            } catch (RuntimeException e) {
                stagingBroken = true;      // fall back to synchronous copies from now on
                System.err.println("cuda: pinned staging unusable (" + e + "); uploads are synchronous");
            }
        }
        cuStreamSynchronize(stream);        // large or no staging: synchronous copy straight from the array
        cuMemcpyHtoD(dst, host, bytes);
    }

    private CudaBuffer uploadInts(int[] src, int n) {
        CudaBuffer b = alloc(Math.max(n, 1));
        uploadBytes(b.ptr, 4L * n, v -> v.asIntBuffer().put(src, 0, n), Pointer.to(src));
        return b;
    }

    private CudaBuffer uploadLongs(long[] src) {
        CudaBuffer b = alloc(Math.max(2L * src.length, 1));
        uploadBytes(b.ptr, 8L * src.length, v -> v.asLongBuffer().put(src), Pointer.to(src));
        return b;
    }

    @Override
    public void download(Buffer src, long srcOff, float[] dst, int dstOff, int n) {
        ctx();
        range("download", src, srcOff, n);
        if (dstOff < 0 || dstOff + n > dst.length)
            throw new IllegalArgumentException("cuda download: host range [" + dstOff + ", " + (dstOff + n) + ") outside an array of " + dst.length);
        cuStreamSynchronize(stream);
        if (n == 0) return;
        cuMemcpyDtoH(Pointer.to(dst).withByteOffset(4L * dstOff), ptr(src, srcOff), 4L * n);
    }

    @Override
    public void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) {
        ctx();
        range("copy", src, srcOff, n);
        range("copy", dst, dstOff, n);
        if (n > 0) cuMemcpyDtoDAsync(ptr(dst, dstOff), ptr(src, srcOff), 4L * n, stream);
    }

    @Override
    public void fill(Buffer dst, long off, long n, float value) {
        ctx();
        range("fill", dst, off, n);
        if (n > 0) cuMemsetD32Async(ptr(dst, off), Float.floatToRawIntBits(value), n, stream);
    }

    @Override
    public void synchronize() {
        ctx();
        cuStreamSynchronize(stream);
    }

    @Override public long bytesInUse() { return bytesInUse; }

    @Override public long peakBytes() { return peakBytes; }

    /** Bytes held in the allocator's cache (freed buffers not returned to the driver). */
    public long bytesCached() { return bytesCached; }

    @Override
    public void close() {
        if (closed) return;
        ctx();
        try {
            cuStreamSynchronize(stream);
            releaseSymScratch();
            if (doneCounter != null) { doneCounter.close(); doneCounter = null; }
            if (hardKeys != null) { hardKeys.close(); hardKeys = null; }
            trimCache();
            if (profile != null) profile.close();
            for (int i = 0; i < STAGE_SLOTS; i++) if (stage[i] != null) { cuMemFreeHost(stage[i]); cuEventDestroy(stageEvent[i]); }
            for (CUmodule m : modules) cuModuleUnload(m);
            cuStreamDestroy(stream);
            cuDevicePrimaryCtxRelease(device);
        } finally {
            closed = true;
        }
    }

    // ================================================================== launching

    CUfunction function(String name) {
        CUfunction f = functions.get(name);
        if (f != null) return f;
        for (CUmodule m : modules) {
            CUfunction g = new CUfunction();
            try {
                cuModuleGetFunction(g, m, name);
                functions.put(name, g);
                return g;
            } catch (CudaException e) {
                // not in this module
            }
        }
        throw new IllegalStateException("cuda: kernel '" + name + "' not found in " + String.join(", ", MODULES)
                + " fatbins; the packaged binaries do not match this class (rebuild the kernels module)");
    }

    /**
     * Launches {@code name} on a (gx, gy, gz) grid of {@code block}-thread blocks. Args, in the order and
     * of the types of the kernel's parameters: Buffer or null (a pointer), Integer or Boolean (int),
     * Long (long long), Float (float), FastDiv (sh_fastdiv: three ints).
     *
     * <p>The arguments are packed into one direct buffer with the C layout (each at a multiple of its
     * size) and passed through {@code CU_LAUNCH_PARAM_BUFFER_POINTER}: JCuda then marshals five
     * pointers instead of one {@code Pointer} per argument (measured through JCuda's JNI with the
     * emulator's driver: 1.4 instead of 8.6 microseconds of host time for a 16-argument launch). If the
     * driver refuses the packed form, the backend says so once and marshals per argument from then on
     * ({@code -Dsemihard.cuda.packedArgs=false} asks for that from the start).
     */
    void launch(String name, long gx, int gy, int gz, int block, Object... args) {
        ctx();
        if (gx <= 0 || gy <= 0 || gz <= 0) return;   // empty problem
        if (gx > Integer.MAX_VALUE || gy > 65535 || gz > 65535)
            throw new IllegalArgumentException("cuda: grid " + gx + "x" + gy + "x" + gz + " too large for " + name);
        CUfunction f = function(name);
        Runnable go;
        if (packedArgs) {
            int o = 0;
            for (Object a : args) {
                if (a == null || a instanceof Buffer || a instanceof Long) {
                    o = (o + 7) & ~7;
                    argBuf.putLong(o, a == null ? 0L : a instanceof Long v ? v : buf((Buffer) a).ptr.address());
                    o += 8;
                } else if (a instanceof Integer v) { argBuf.putInt(o, v); o += 4; }
                else if (a instanceof Float v) { argBuf.putFloat(o, v); o += 4; }
                else if (a instanceof Boolean v) { argBuf.putInt(o, v ? 1 : 0); o += 4; }
                else if (a instanceof FastDiv v) { argBuf.putInt(o, v.d()).putInt(o + 4, v.m()).putInt(o + 8, v.l()); o += 12; }
                else throw new IllegalArgumentException("cuda: unsupported kernel argument " + a.getClass());
            }
            argSize.putLong(0, o);
            go = () -> cuLaunchKernel(f, (int) gx, gy, gz, block, 1, 1, 0, stream, null, argExtra);
        } else {
            NativePointerObject[] ps = new NativePointerObject[args.length];
            for (int i = 0; i < args.length; i++) {
                Object a = args[i];
                if (a == null) ps[i] = Pointer.to(new CUdeviceptr());
                else if (a instanceof Buffer b) ps[i] = Pointer.to(ptr(b));
                else if (a instanceof Integer v) ps[i] = Pointer.to(new int[]{v});
                else if (a instanceof Long v) ps[i] = Pointer.to(new long[]{v});
                else if (a instanceof Float v) ps[i] = Pointer.to(new float[]{v});
                else if (a instanceof Boolean v) ps[i] = Pointer.to(new int[]{v ? 1 : 0});
                else if (a instanceof FastDiv v) ps[i] = Pointer.to(new int[]{v.d(), v.m(), v.l()});
                else throw new IllegalArgumentException("cuda: unsupported kernel argument " + a.getClass());
            }
            go = () -> cuLaunchKernel(f, (int) gx, gy, gz, block, 1, 1, 0, stream, Pointer.to(ps), null);
        }
        try {
            if (profile == null) go.run(); else profile.launch(name, go);
        } catch (CudaException e) {
            if (!packedArgs || launchedPacked || !String.valueOf(e.getMessage()).contains("INVALID_VALUE")) throw e;
            packedArgs = false;         // the first packed launch was refused: this driver wants kernelParams
            System.err.println("cuda: the driver refused packed kernel arguments (" + e.getMessage()
                    + "); passing them one by one from now on");
            launch(name, gx, gy, gz, block, args);
            return;
        }
        launchedPacked |= packedArgs;
    }

    /** Bytes of packed kernel arguments (the largest kernel takes about 20 arguments, 160 bytes). */
    private static final int ARG_BYTES = 1024;
    private boolean packedArgs = !"false".equals(System.getProperty("semihard.cuda.packedArgs"));
    private boolean launchedPacked;
    private final java.nio.ByteBuffer argBuf = java.nio.ByteBuffer.allocateDirect(ARG_BYTES).order(ByteOrder.nativeOrder());
    private final java.nio.ByteBuffer argSize = java.nio.ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
    private final Pointer argExtra = Pointer.to(CU_LAUNCH_PARAM_BUFFER_POINTER, Pointer.to(argBuf),
            CU_LAUNCH_PARAM_BUFFER_SIZE, Pointer.to(argSize), CU_LAUNCH_PARAM_END);

    private static int grid(long n) {
        long g = (n + T - 1) / T;
        return (int) Math.max(1, Math.min(g, 65535L * 8));
    }

    private void elementwise(String name, long n, Object... args) {
        if (n > 0) launch(name, grid(n), 1, 1, T, args);
    }

    /** How a GEMM-shaped problem is launched: kernel suffix, tile rows and columns, split of the reduction. */
    record GemmPlan(String suffix, int tileM, int tileN, int splits, int kChunk) {}

    /**
     * Tile: fp32 128x128 (8x8 per thread) when both sides are >= 128 and there are enough tiles
     * (counting split-K) to fill the GPU; fp32 32x256 (4x8 per thread) when M <= 32 and it covers the
     * problem with less padding than 64x64; pipelined fp32 64x128 (4x8 per thread) when 32 < M <= 64,
     * it pads no more than 64x64 and its tiles fill the GPU (the 64x64 tile's 4x4 threads spend half
     * their issue slots on loads and shared memory); else fp32 64x64. The 32x256 and 64x128 tiles are
     * off with -Dsemihard.cuda.thinTiles=false. With TF32 asked for, the convolutions and linear layers (the SH_GEMM3 families) take the
     * same tile on tensor cores (_tf32, _tf32_small, _tf32_m32; always pipelined). Split-K (fixed
     * partials, added in order by splitKReduce) when the tiles alone leave SMs idle, each split at
     * least 256 deep.
     *
     * @param smCount       the GPU's multiprocessors
     * @param family        a conv2d or linear kernel family (SH_GEMM3: has the _m32 and _tf32 versions)
     * @param upperTriangle a square problem of which only the tiles on and above the diagonal work (the
     *                      symmetric distances): those are the tiles that must fill the GPU
     */
    static GemmPlan plan(int smCount, boolean tf32, boolean thinTiles, boolean family, boolean upperTriangle,
                         int m, int n, int kDim, int maxSplits, boolean pipelined) {
        boolean useTf32 = family && tf32;
        int maxUseful = Math.max(1, Math.min(maxSplits, kDim / 256));
        long tm = ceil(m, 128), tn = ceil(n, 128);
        long bigTiles = upperTriangle ? tm * (tm + 1) / 2 : tm * tn;
        boolean big = m >= 128 && n >= 128 && bigTiles * maxUseful >= smCount;
        int tileM = big ? 128 : 64, tileN = tileM;
        String shape = big ? "" : "_small";
        if (family && thinTiles && !big && m <= 32 && coverage(m, n, 32, 256) > coverage(m, n, 64, 64)) {
            tileM = 32;
            tileN = 256;
            shape = "_m32";
        } else if (family && thinTiles && !useTf32 && pipelined && !big && m > 32 && m <= 64
                && coverage(m, n, 64, 128) >= coverage(m, n, 64, 64)
                && (long) ceil(m, 64) * ceil(n, 128) * maxUseful >= smCount) {
            tileM = 64;
            tileN = 128;
            shape = "_w64";
        }
        long tiles = (long) ceil(m, tileM) * ceil(n, tileN);
        int splits = 1;
        if (maxSplits > 1 && tiles < 2L * smCount)
            splits = (int) Math.min(maxUseful, Math.max(1, (2L * smCount + tiles - 1) / tiles));
        int kChunk = ceil(ceil(Math.max(kDim, 1), splits), 16) * 16;
        splits = Math.max(1, ceil(Math.max(kDim, 1), kChunk));
        String version = useTf32 ? "_tf32" : pipelined ? "_pf" : "";
        return new GemmPlan(version + shape, tileM, tileN, splits, kChunk);
    }

    /** {@link #plan(int, boolean, boolean, boolean, boolean, int, int, int, int, boolean)} for this GPU and its options. */
    private GemmPlan plan(boolean family, boolean upperTriangle, int m, int n, int kDim, int maxSplits, boolean pipelined) {
        return plan(smCount, tf32, thinTiles, family, upperTriangle, m, n, kDim, maxSplits, pipelined);
    }

    /** The share of a grid of tm x tn tiles over an m x n output that is the output (the rest is padding). */
    static double coverage(int m, int n, int tm, int tn) {
        return (double) m * n / ((double) ceil(m, tm) * tm * ((double) ceil(n, tn) * tn));
    }

    /**
     * Launches a GEMM-shaped kernel family (name, name_small, name_tf32_small, ...) for C[m, n] over kDim with
     * {@link #plan}; returns the number of splits (partials when > 1).
     */
    private int gemm(String name, boolean family, int m, int n, int kDim, int maxSplits, Object... rest) {
        return gemm(name, family, false, m, n, kDim, maxSplits, rest);
    }

    /** {@link #gemm}; upperTriangle: a square problem whose kernel skips the tiles below the diagonal. */
    private int gemm(String name, boolean family, boolean upperTriangle, int m, int n, int kDim, int maxSplits, Object... rest) {
        if (m <= 0 || n <= 0) return 1;
        // tripletBackward and the 3xTF32 distances come in "" / "_small" only
        GemmPlan p = plan(family, upperTriangle, m, n, kDim, maxSplits,
                pipelinedGemm && !name.equals("tripletBackward") && !name.endsWith("_x3"));
        Object[] args = new Object[4 + rest.length];
        args[0] = m; args[1] = n; args[2] = kDim; args[3] = p.kChunk();
        System.arraycopy(rest, 0, args, 4, rest.length);
        launch(name + p.suffix(), ceil(n, p.tileN()), ceil(m, p.tileM()), p.splits(), T, args);
        return p.splits();
    }

    /**
     * The most splits of a weight gradient's reduction (the batch's pixels or rows): enough for one
     * tile alone to fill two blocks per SM. The output is small (filters x taps), its reduction deep:
     * a 32-filter 3x3 layer at 256 x 48 x 48 is 1 or 2 tiles over 589,824 pixels. A fixed 64 left such
     * a layer 64 or 128 blocks on an H200's 132 SMs; the partials cost splits x M x N floats, 10 MB there.
     */
    int weightGradSplits() {
        return weightGradSplits(smCount);
    }

    static int weightGradSplits(int smCount) {
        return Math.max(64, 2 * smCount);
    }

    /**
     * A weight gradient dw [m, n] over a deep reduction (kd: the batch's pixels or rows): one GEMM when its
     * tiles fill the GPU, else split-K partials that splitKReduce adds. {@code args} gives the kernel's
     * arguments for an output buffer (dw itself, or the partials).
     */
    private void weightGrad(String name, int m, int n, int kd, Buffer dw, java.util.function.Function<Buffer, Object[]> args) {
        int cap = weightGradSplits();
        int splits = gemmSplits(true, m, n, kd, cap);
        if (splits == 1) {
            gemm(name, true, m, n, kd, cap, args.apply(dw));
            return;
        }
        try (CudaBuffer part = alloc((long) splits * m * n)) {
            int s = gemm(name, true, m, n, kd, cap, args.apply(part));
            splitKReduce(part, dw, (long) m * n, s);
        }
    }

    /** out[i] = the sum of part[z * count + i] over z < splits (gemm.cuh: 32 outputs per block of 8 warps). */
    private void splitKReduce(CudaBuffer part, Buffer out, long count, int splits) {
        launch("splitKReduce", (int) Math.max(1, Math.min(ceil(count, 32), 65535L * 8)), 1, 1, T, part, out, count, splits);
    }

    /** The number of splits {@link #gemm} will use (so the caller can size the partials first). */
    private int gemmSplits(boolean family, int m, int n, int kDim, int maxSplits) {
        return plan(family, false, m, n, kDim, maxSplits, false).splits();
    }

    private static int ceil(long a, long b) { return (int) ((a + b - 1) / b); }

    private static int toInt(String op, long v) {
        if (v < 0 || v > Integer.MAX_VALUE) throw new IllegalArgumentException("cuda " + op + ": size " + v + " exceeds 2^31-1");
        return (int) v;
    }

    // ================================================================== elementwise

    @Override public void axpy(long n, float alpha, Buffer x, Buffer y) { elementwise("axpy", n, n, alpha, x, y); }

    @Override public void scale(long n, float alpha, Buffer x) { elementwise("scale", n, n, alpha, x); }

    @Override public void add(long n, Buffer a, Buffer b, Buffer y) { elementwise("add", n, n, a, b, y); }

    @Override public void reluForward(long n, Buffer x, Buffer y) { elementwise("reluForward", n, n, x, y); }

    @Override public void reluBackward(long n, Buffer y, Buffer dy, Buffer dx) { elementwise("reluBackward", n, n, y, dy, dx); }

    @Override
    public void sumSquares(long n, Buffer x, float[] out) {
        sumSquaresMany(new long[]{n}, new Buffer[]{x}, out);
    }

    /**
     * One launch for all the buffers (elementwise.cu's sumSquaresMany: a table of addresses and lengths,
     * its last block adds the partials), one download.
     */
    @Override
    public void sumSquaresMany(long[] ns, Buffer[] xs, float[] out) {
        Backend.checkSumSquaresMany(ns, xs, out);
        if (xs.length == 0) return;
        ctx();
        try (CudaBuffer res = alloc(2L * xs.length)) {
            for (int from = 0; from < xs.length; from += MAX_GRID_Y) {      // grid y: one buffer each
                int count = Math.min(MAX_GRID_Y, xs.length - from);
                long[] table = new long[2 * count];
                long most = 1;
                for (int i = 0; i < count; i++) {
                    range("sumSquaresMany", xs[from + i], 0, ns[from + i]);
                    table[2 * i] = address(xs[from + i], 0);
                    table[2 * i + 1] = ns[from + i];
                    most = Math.max(most, ns[from + i]);
                }
                int blocks = Math.min(SUM_SQUARES_BLOCKS, ceil(most, T));
                try (CudaBuffer t = uploadLongs(table); CudaBuffer part = alloc(4L * blocks * count)) {
                    launch("sumSquaresMany", blocks, count, 1, T, t, count, part, address(res, 2L * from), doneCounter());
                }
            }
            download(res, 0, out, 0, 2 * xs.length);
        }
    }

    /** sumSquaresMany's blocks per buffer (the largest buffer's elements / 256, at most this). */
    private static final int SUM_SQUARES_BLOCKS = 128;
    /** The largest y dimension of a grid. */
    private static final int MAX_GRID_Y = 65535;

    // ================================================================== convolution

    private Object[] convDims(ConvGeometry g) {
        return new Object[]{g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.stride(), g.pad(), g.outH(), g.outW()};
    }

    private static Object[] cat(Object[] a, Object... b) {
        Object[] r = new Object[a.length + b.length];
        System.arraycopy(b, 0, r, 0, b.length);
        System.arraycopy(a, 0, r, b.length, a.length);
        return r;
    }

    /**
     * Whether a convolution whose reduction runs over {@code channels} (forward: input channels; data
     * gradient: output channels) takes the tap-major kernels (conv2dForwardTap, conv2dBackwardDataTap):
     * the channels a multiple of 16 (one k-slice = one filter tap), the pipelined tiles, and not turned
     * off with {@link #CONV_TAPS_PROPERTY}.
     */
    boolean convTaps(int channels) {
        return convTaps && pipelinedGemm && channels % 16 == 0;
    }

    @Override
    public void conv2dForward(ConvGeometry g, Buffer x, Buffer w, Buffer bias, Buffer y) {
        int m = g.k(), n = toInt("conv2dForward", (long) g.n() * g.outH() * g.outW()), kd = g.c() * g.r() * g.s();
        gemm(convTaps(g.c()) ? "conv2dForwardTap" : "conv2dForward", true, m, n, kd, 1, cat(convDims(g), x, w, bias, y));
    }

    @Override
    public void conv2dBackwardData(ConvGeometry g, Buffer dy, Buffer w, Buffer dx) {
        int m = g.c(), n = toInt("conv2dBackwardData", (long) g.n() * g.h() * g.w()), kd = g.k() * g.r() * g.s();
        gemm(convTaps(g.k()) ? "conv2dBackwardDataTap" : "conv2dBackwardData", true, m, n, kd, 1, cat(convDims(g), dy, w, dx));
    }

    @Override
    public void conv2dBackwardFilter(ConvGeometry g, Buffer x, Buffer dy, Buffer dw, Buffer dbias) {
        int m = g.k(), n = g.c() * g.r() * g.s(), kd = toInt("conv2dBackwardFilter", (long) g.n() * g.outH() * g.outW());
        weightGrad("conv2dBackwardFilter", m, n, kd, dw, out -> cat(convDims(g), x, dy, out));
        if (dbias != null) launch("conv2dBiasGrad", g.k(), 1, 1, T, dy, dbias, g.n(), g.k(), g.outH() * g.outW());
    }

    // ================================================================== pooling

    @Override
    public void maxPool2dForward(PoolGeometry g, Buffer x, Buffer y) {
        long planes = (long) g.n() * g.c();
        elementwise("maxPool2dForward", g.outputSize(), x, y, planes, g.h(), g.w(), g.size(), g.stride(), g.outH(), g.outW(),
                FastDiv.of(g.outH() * g.outW()), FastDiv.of(g.outW()));
    }

    @Override
    public void maxPool2dBackward(PoolGeometry g, Buffer x, Buffer dy, Buffer dx) {
        long planes = (long) g.n() * g.c();
        elementwise("maxPool2dBackward", g.inputSize(), x, dy, dx, planes, g.h(), g.w(), g.size(), g.stride(), g.outH(), g.outW(),
                FastDiv.of(g.h() * g.w()), FastDiv.of(g.w()), FastDiv.of(g.stride()));
    }

    @Override
    public void globalAvgPoolForward(int n, int c, int hw, Buffer x, Buffer y) {
        int rows = n * c;
        launch("globalAvgPoolForward", ceil(rows, T / 32), 1, 1, T, x, y, rows, hw);
    }

    @Override
    public void globalAvgPoolBackward(int n, int c, int hw, Buffer dy, Buffer dx) {
        long rows = (long) n * c;
        elementwise("globalAvgPoolBackward", rows * hw, dy, dx, rows, hw, FastDiv.of(hw));
    }

    // ================================================================== batch norm

    private int bnChunks(long count, int c) {
        long want = Math.max(1, (4L * smCount + c - 1) / c);
        long byCount = Math.max(1, count / 4096);
        return (int) Math.min(Math.min(want, byCount), 65535);
    }

    @Override
    public void batchNormForwardTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma,
                                         Buffer beta, Buffer y, Buffer saveMean, Buffer saveInvStd,
                                         Buffer runningMean, Buffer runningVar) {
        bnForwardTraining("batchNormApply", n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar);
    }

    /** Training-mode forward: the two statistics kernels, then {@code apply} (batchNormApply or batchNormReluApply). */
    private void bnForwardTraining(String apply, int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma,
                                   Buffer beta, Buffer y, Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar) {
        long count = (long) n * hw;
        if (count < 2)
            throw new IllegalArgumentException("batchNorm2d (training): needs more than one value per channel, got n*h*w = "
                    + count + "; use a batch larger than 1 or eval mode");
        int chunks = bnChunks(count, c);
        long per = (count + chunks - 1) / chunks;
        try (CudaBuffer part = alloc(4L * c * chunks)) {
            // its last block computes mean, invStd and the running statistics from the partials
            launch("batchNormStats", chunks, c, 1, T, x, part, n, c, hw, per, FastDiv.of(hw), eps, momentum,
                    saveMean, saveInvStd, runningMean, runningVar, doneCounter());
        }
        elementwise(apply, count * c, x, y, count * c, c, hw, saveMean, saveInvStd, gamma, beta, FastDiv.of(hw), FastDiv.of(c));
    }

    @Override
    public void batchNormForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                          Buffer runningMean, Buffer runningVar, Buffer y) {
        long total = (long) n * c * hw;
        elementwise("batchNormForwardInference", total, x, y, total, c, hw, eps, gamma, beta, runningMean, runningVar,
                FastDiv.of(hw), FastDiv.of(c));
    }

    @Override
    public void batchNormBackward(int n, int c, int hw, Buffer x, Buffer dy, Buffer gamma, Buffer saveMean,
                                  Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        bnBackward(false, n, c, hw, x, null, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
    }

    /**
     * Backward: per-chunk sums of g and g * xhat (g = dy, masked by y > 0 when {@code relu}), the
     * per-channel totals (dgamma, dbeta), then dx; the ReLU-fused kernels also take y.
     */
    private void bnBackward(boolean relu, int n, int c, int hw, Buffer x, Buffer y, Buffer dy, Buffer gamma, Buffer saveMean,
                            Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        long count = (long) n * hw;
        int chunks = bnChunks(count, c);
        long per = (count + chunks - 1) / chunks;
        FastDiv dHW = FastDiv.of(hw), dC = FastDiv.of(c);
        try (CudaBuffer part = alloc(4L * c * chunks); CudaBuffer sums = alloc(4L * c)) {
            // the last block of the statistics kernel totals them per channel: dgamma, dbeta and sums
            if (relu) launch("batchNormReluBackwardStats", chunks, c, 1, T, x, y, dy, saveMean, saveInvStd, part, n, c, hw, per, dHW,
                    dgamma, dbeta, sums, doneCounter());
            else launch("batchNormBackwardStats", chunks, c, 1, T, x, dy, saveMean, saveInvStd, part, n, c, hw, per, dHW,
                    dgamma, dbeta, sums, doneCounter());
            if (relu) elementwise("batchNormReluBackwardApply", count * c, x, y, dy, dx, count * c, c, hw, count, gamma,
                    saveMean, saveInvStd, sums, dHW, dC);
            else elementwise("batchNormBackwardApply", count * c, x, dy, dx, count * c, c, hw, count, gamma,
                    saveMean, saveInvStd, sums, dHW, dC);
        }
    }

    // batch norm fused with the ReLU after it: the same statistics kernels, then the *Relu* variants of the
    // elementwise passes (layers.cu instantiates each plain/fused pair from one template)

    @Override
    public void batchNormReluForwardTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma,
                                             Buffer beta, Buffer y, Buffer saveMean, Buffer saveInvStd,
                                             Buffer runningMean, Buffer runningVar) {
        bnForwardTraining("batchNormReluApply", n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar);
    }

    @Override
    public void batchNormReluForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                              Buffer runningMean, Buffer runningVar, Buffer y) {
        long total = (long) n * c * hw;
        elementwise("batchNormReluForwardInference", total, x, y, total, c, hw, eps, gamma, beta, runningMean, runningVar,
                FastDiv.of(hw), FastDiv.of(c));
    }

    @Override
    public void batchNormReluBackward(int n, int c, int hw, Buffer x, Buffer y, Buffer dy, Buffer gamma, Buffer saveMean,
                                      Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        bnBackward(true, n, c, hw, x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
    }

    // ================================================================== linear

    @Override
    public void linearForward(int n, int in, int out, Buffer x, Buffer w, Buffer b, Buffer y) {
        gemm("linearForward", true, n, out, in, 1, x, w, b, y);
    }

    @Override
    public void linearBackwardData(int n, int in, int out, Buffer dy, Buffer w, Buffer dx) {
        gemm("linearBackwardData", true, n, in, out, 1, dy, w, dx);
    }

    @Override
    public void linearBackwardWeight(int n, int in, int out, Buffer x, Buffer dy, Buffer dw, Buffer db) {
        weightGrad("linearBackwardWeight", out, in, n, dw, o -> new Object[]{x, dy, o});
        if (db != null) launch("linearBiasGrad", out, 1, 1, T, dy, db, n, out);
    }

    // ================================================================== embeddings

    @Override
    public void l2NormalizeForward(int n, int d, float eps, Buffer x, Buffer y, Buffer norms) {
        launch("l2NormalizeForward", ceil(n, T / 32), 1, 1, T, x, y, norms, n, d, eps);
    }

    @Override
    public void l2NormalizeBackward(int n, int d, float eps, Buffer y, Buffer norms, Buffer dy, Buffer dx) {
        launch("l2NormalizeBackward", ceil(n, T / 32), 1, 1, T, y, norms, dy, dx, n, d, eps);
    }

    /** Distance GEMM: dist[m * ld + j] for m < rows, j < cols; see embedding.cu DistP for the modes. */
    private void distances(int rows, int cols, int d, Buffer e, Buffer dist, Buffer sq, Buffer nc, int ld, int mode) {
        String name = mode <= 1 ? "pairwiseDistanceForward_diff"
                : distanceTensorCores() ? "pairwiseDistanceForward_dot_x3" : "pairwiseDistanceForward_dot";
        int sym = rows == cols && SYMMETRIC_DISTANCES ? 1 : 0;     // square: compute the upper triangle, mirror it
        gemm(name, false, sym == 1, rows, cols, d, 1, e, dist, sq, nc, ld, mode, sym);
    }

    /** -Dsemihard.cuda.distanceTensorCores=false: the distances' dot products on fp32 FFMA tiles instead of 3xTF32. */
    public static final String DISTANCE_TENSOR_CORES_PROPERTY = "semihard.cuda.distanceTensorCores";

    /**
     * Whether the dot-product distances (cosine, and squared-l2 / l2 from norms beyond
     * {@link #DIFF_DISTANCE_MAX_ROWS} rows) run on tensor cores in 3xTF32: each product as
     * hi*hi + hi*lo + lo*hi of TF32 halves, within about 2^-22 of fp32's. Read per call, so a
     * benchmark can compare both in one process.
     */
    static boolean distanceTensorCores() {
        return !"false".equals(System.getProperty(DISTANCE_TENSOR_CORES_PROPERTY));
    }

    @Override
    public void pairwiseDistanceForward(int n, int d, Distance metric, Buffer e, Buffer dist) {
        if (metric == Distance.COSINE) {
            try (CudaBuffer sqd = alloc(2L * n); CudaBuffer nrm = alloc(n); CudaBuffer nc = alloc(n)) {
                launch("tripletRowStats", ceil(n, T / 32), 1, 1, T, e, n, d, sqd, nrm, nc, null);
                distances(n, n, d, e, dist, sqd, nc, n, 2);
            }
        } else {
            distances(n, n, d, e, dist, null, null, n, metric == Distance.L2 ? 1 : 0);
        }
    }

    @Override
    public void pairwiseDistanceBackward(int n, int d, Distance metric, Buffer e, Buffer dist, Buffer dDist, Buffer dE) {
        int code = metric == Distance.SQUARED_L2 ? 0 : metric == Distance.L2 ? 1 : 2;
        if (metric == Distance.COSINE) {
            try (CudaBuffer sqd = alloc(2L * n); CudaBuffer nrm = alloc(n); CudaBuffer nc = alloc(n);
                 CudaBuffer cosm = alloc((long) n * n)) {
                launch("tripletRowStats", ceil(n, T / 32), 1, 1, T, e, n, d, sqd, nrm, nc, null);
                distances(n, n, d, e, cosm, sqd, nc, n, 2);
                launch("pairwiseDistanceBackward", n, 1, 1, 128, e, dist, dDist, dE, n, d, code, cosm, nrm, nc);
            }
        } else {
            launch("pairwiseDistanceBackward", n, 1, 1, 128, e, dist, dDist, dE, n, d, code, null, null, null);
        }
    }

    // ================================================================== the fused triplet loss

    /** Batches up to this size compute distances from differences (exact zeros for duplicates); larger ones from norms and dot products. */
    static final int DIFF_DISTANCE_MAX_ROWS = 4096;
    /** -Dsemihard.cuda.diffDistanceMaxRows=N: the largest batch whose (squared) l2 distances come from differences. */
    public static final String DIFF_DISTANCE_MAX_ROWS_PROPERTY = "semihard.cuda.diffDistanceMaxRows";

    /** {@link #DIFF_DISTANCE_MAX_ROWS}, or the property's value (0: always from norms and dot products); read per call. */
    static int diffDistanceMaxRows() {
        return Integer.getInteger(DIFF_DISTANCE_MAX_ROWS_PROPERTY, DIFF_DISTANCE_MAX_ROWS);
    }

    @Override
    public void tripletLoss(int b, int d, int[] labels, TripletOptions o, Buffer e, Buffer dE, Buffer stats) {
        ctx();
        if (o == null) throw new IllegalArgumentException("tripletLoss: options are required");
        if (b < 0 || d < 0) throw new IllegalArgumentException("tripletLoss: negative size b=" + b + ", d=" + d);
        if (labels == null || labels.length < b)
            throw new IllegalArgumentException("tripletLoss: need " + b + " labels, got " + (labels == null ? "null" : labels.length));
        if (o.anchorRows() > b)
            throw new IllegalArgumentException("tripletLoss: anchorRows " + o.anchorRows() + " exceeds the batch of " + b
                    + " rows; use TripletOptions.withAnchorRows(B) when the batch has no extra negatives");
        if ((long) b * b > Integer.MAX_VALUE)
            throw new IllegalArgumentException("tripletLoss: B = " + b + " is too large for the B x B distance matrix (max 46340)");
        if (stats.size() < TripletStats.SIZE)
            throw new IllegalArgumentException("tripletLoss: stats needs " + TripletStats.SIZE + " floats, got " + stats.size());
        if (b == 0 || d == 0) {
            fill(stats, 0, TripletStats.SIZE, 0f);
            if (b == 0 || o.anchorRows() < 2) { fill(stats, TripletStats.DEGENERATE, 1, 1f); return; }
        }
        final int a = o.anchorRows();
        final Distance metric = o.distance();
        final int metricCode = metric == Distance.SQUARED_L2 ? 0 : metric == Distance.L2 ? 1 : 2;
        final int strategy = o.strategy() == Strategy.SEMIHARD ? 0 : o.strategy() == Strategy.BATCH_HARD ? 1 : 2;
        final int colChunks = Math.max(1, Math.min(256, ceil(b, 64)));
        final int rowsPerChunk = ceil(b, colChunks);
        List<CudaBuffer> scratch = new ArrayList<>();
        try {
            CudaBuffer lab = uploadInts(labels, b);
            scratch.add(lab);
            CudaBuffer sqd = take(scratch, 2L * b), nrm = take(scratch, b), nc = take(scratch, b);
            CudaBuffer ehat = metric == Distance.COSINE ? take(scratch, (long) b * d) : null;
            CudaBuffer colp = take(scratch, 2L * colChunks * Math.max(d, 1));
            CudaBuffer ws = take(scratch, 1);
            int rowBlocks = ceil(b, T / 32);       // one launch: row statistics, then column sums
            launch("tripletStats", rowBlocks + colChunks, 1, 1, T, e, b, d, sqd, nrm, nc, ehat, rowBlocks, rowsPerChunk, colp);
            CudaBuffer part = take(scratch, 2L * P_N * Math.max(a, 1));
            CudaBuffer dist = null, g = null, grow = null, sym = null;
            final TripletBackward backward = tripletBackward(o.strategy(), labels, a);
            if (a > 0) {
                int mode = metric == Distance.COSINE ? 2
                        : b <= diffDistanceMaxRows() ? (metric == Distance.L2 ? 1 : 0) : (metric == Distance.L2 ? 4 : 3);
                // batch-hard (sym) is mined in the distance tiles: from differences, or on tensor cores (3xTF32)
                boolean fusedHard = o.strategy() == Strategy.BATCH_HARD && backward == TripletBackward.SYM
                        && (mode <= 1 || distanceTensorCores()) && fusedHardMining();
                if (!fusedHard) dist = take(scratch, (long) a * b);
                if (backward == TripletBackward.SYM) {
                    sym = symScratch(b);
                    symDirty = true;          // until tripletSymGather has zeroed it again
                } else {
                    g = take(scratch, (long) a * b);
                    grow = take(scratch, 2L * a);
                }
                if (fusedHard) {
                    // the distance tiles reduce each row's keys: no D; then one thread per anchor (and the finish)
                    CudaBuffer keys = hardKeys(b);
                    long n = keys.size() / 5;
                    Long hp = address(keys, 0), near = address(keys, 2 * n), cnt = address(keys, 4 * n);
                    int upper = a == b && SYMMETRIC_DISTANCES ? 1 : 0;
                    hardDirty = true;         // until tripletHardFinish has reset the keys
                    gemm(mode <= 1 ? "tripletHardMine_diff" : "tripletHardMine_x3", false, upper == 1, a, b, d, 1,
                            e, sqd, nc, mode, upper, lab, a, hp, near, cnt);
                    launch("tripletHardFinish", ceil(a, T), 1, 1, T, hp, near, cnt,
                            a, b, metric == Distance.L2 ? 1 : 0, o.margin(), o.softMargin() ? 1 : 0, sym, symMask,
                            symChunkCols(b), part, sqd, nrm, colp, colChunks, d, stats, ws, doneCounter());
                    hardDirty = false;
                } else {
                    distances(a, b, d, e, dist, sqd, nc, b, mode);
                    // its last block also does tripletFinish's work (one launch less)
                    launch("tripletMine", a, 1, 1, T, dist, lab, g, part, grow, a, b, strategy,
                            metric == Distance.L2 ? 1 : 0, o.margin(), o.softMargin() ? 1 : 0, sym,
                            sym == null ? null : symMask, symChunkCols(b),
                            sqd, nrm, colp, colChunks, d, stats, ws, doneCounter());
                }
            } else {
                launch("tripletFinish", 1, 1, 1, T, part, a, b, d, sqd, nrm, colp, colChunks, strategy, stats, ws);
            }
            if (a == 0 || d == 0) {         // (d == 0 leaves S dirty: no gather zeroes it, the next call does)
                fill(dE, 0, (long) b * d, 0f);
                return;
            }
            CudaBuffer x = metric == Distance.COSINE ? ehat : buf(e);
            if (backward == TripletBackward.SYM) {
                // sym: S = G + G^T is sparse (about 4K nonzeros per row): one pass over the marked chunks of its rows;
                // for d <= SYM_CHUNK the same warp then writes the row's gradient (no T, no tripletGrad)
                if (d <= SYM_CHUNK) {
                    launch("tripletSymGather", ceil(b, T / 32), 1, 1, T, sym, symMask, symChunkCols(b), x, null, null, b, d,
                            e, ehat, nrm, nc, ws, dE, metricCode);
                    symDirty = false;
                    return;
                }
                CudaBuffer t = take(scratch, (long) b * d), rs = take(scratch, 2L * b);
                launch("tripletSymGather", ceil(b, T / 32), 1, 1, T, sym, symMask, symChunkCols(b), x, t, rs, b, d,
                        null, null, null, null, null, null, 0);
                symDirty = false;
                launch("tripletGrad", ceil(b, T / 32), 1, 1, T, t, e, ehat, rs, null, 0, nrm, nc, ws, dE,
                        b, b, d, metricCode, null, 0);
                return;
            }
            if (backward == TripletBackward.SPLIT) {
                // split: G is sparse (about 2K nonzeros per row): gather the nonzeros by rows and by columns
                CudaBuffer trow = take(scratch, (long) b * d), tcol = take(scratch, (long) COL_WARPS * b * d);
                CudaBuffer csum = take(scratch, 2L * COL_WARPS * b);
                launch("tripletRowGather", ceil(b, T / 32), 1, 1, T, g, x, trow, a, b, d);
                launch("tripletColGather", ceil(b, 32), 1, 1, T, g, x, tcol, csum, a, b, d);
                launch("tripletGrad", ceil(b, T / 32), 1, 1, T, trow, e, ehat, grow, csum, COL_WARPS, nrm, nc, ws, dE,
                        b, a, d, metricCode, tcol, COL_WARPS);
                return;
            }
            // dense (batch-all, whose S = G + G^T is dense; the others with -Dsemihard.cuda.tripletBackward=dense): T = S X as a GEMM
            int gChunks = Math.max(1, Math.min(64, ceil(a, 64)));
            int gRows = ceil(a, gChunks);
            CudaBuffer gcol = take(scratch, 2L * gChunks * b);
            launch("tripletColSum", ceil(b, T), gChunks, 1, T, g, a, b, gRows, gcol);
            int splits = gemmSplits(false, b, d, b, 16);
            CudaBuffer tpart = take(scratch, (long) splits * b * d);
            int s = gemm("tripletBackward", false, b, d, b, 16, g, x, tpart, a, b);
            CudaBuffer t = tpart;
            if (s > 1) {
                t = take(scratch, (long) b * d);
                long count = (long) b * d;
                splitKReduce(tpart, t, count, s);
            }
            launch("tripletGrad", ceil(b, T / 32), 1, 1, T, t, e, ehat, grow, gcol, gChunks, nrm, nc, ws, dE, b, a, d,
                    metricCode, null, 0);
        } finally {
            for (CudaBuffer c : scratch) c.close();
        }
    }

    private static final int P_N = 8;
    /** Columns of X one pass of tripletSymGather holds in registers; must match SYM_CHUNK in embedding.cu. */
    private static final int SYM_CHUNK = 256;

    /**
     * The counter of finished blocks of the kernels whose last block finishes the job (common.cuh's
     * sh_last_block: tripletMine and tripletHardFinish do tripletFinish's work, the batch-norm statistics
     * kernels total their partials). One word, 0 between launches: each such last block sets it back.
     * One for all of them, as launches on the one stream do not overlap. Made on first use.
     */
    private CudaBuffer doneCounter;

    private CudaBuffer doneCounter() {
        if (doneCounter == null) {
            doneCounter = alloc(1);
            fill(doneCounter, 0, 1, 0f);
        }
        return doneCounter;
    }

    /** -Dsemihard.cuda.fusedHardMining=false: batch-hard through a stored D and tripletMine everywhere (read per call). */
    public static final String FUSED_HARD_MINING_PROPERTY = "semihard.cuda.fusedHardMining";

    /**
     * Whether batch-hard (with the sym backward) is mined in the distance tiles (tripletHardMine_diff / _x3: the keys
     * of each row's farthest positive and nearest negative, no D) instead of from a stored D by tripletMine; not for
     * dot-product distances on fp32 tiles (distanceTensorCores=false). Both find the same triplets.
     */
    static boolean fusedHardMining() {
        return !"false".equals(System.getProperty(FUSED_HARD_MINING_PROPERTY));
    }

    /**
     * tripletHardMine's keys for a batch of up to b anchors, in one buffer: hp (b 64-bit words, 0), near (b words,
     * all ones), cnt (b 32-bit words, 0); tripletHardFinish sets them back after reading, so they are ready between
     * calls. Grown when a larger batch comes; reset when a call stopped between the two (hardDirty).
     */
    private CudaBuffer hardKeys;
    private boolean hardDirty;

    private CudaBuffer hardKeys(int b) {
        long words = 5L * b;
        if (hardKeys != null && hardKeys.size() < words) {
            hardKeys.close();
            hardKeys = null;
        }
        if (hardKeys == null) {
            hardKeys = alloc(words);
            hardDirty = true;
        }
        if (hardDirty) {
            long n = hardKeys.size() / 5;
            cuMemsetD32Async(ptr(hardKeys, 0), 0, 2 * n, stream);
            cuMemsetD32Async(ptr(hardKeys, 2 * n), -1, 2 * n, stream);
            cuMemsetD32Async(ptr(hardKeys, 4 * n), 0, n, stream);
            hardDirty = false;
        }
        return hardKeys;
    }

    /** Warps (column slices) of tripletColGather; must match COL_WARPS in embedding.cu. */
    private static final int COL_WARPS = 8;
    /**
     * How the fused triplet loss turns dLoss/dD into dLoss/dE (T = (G + G^T) X and row sums):
     * <ul>
     *   <li>SYM (semihard and batch-hard, the default): tripletMine adds each nonzero of G to S = G + G^T
     *       and its mirror (two adds per element at most, so deterministic), then one warp per row of S
     *       gathers its nonzeros into registers (tripletSymGather). S is B x B.</li>
     *   <li>SPLIT (semihard and batch-hard): G by rows and by columns (tripletRowGather,
     *       tripletColGather); the previous version, kept for comparison on GPUs.</li>
     *   <li>DENSE (batch-all always; the others on request): T = S X as a GEMM.</li>
     * </ul>
     * {@code -Dsemihard.cuda.tripletBackward=sym|split|dense} chooses for semihard and batch-hard;
     * SYM falls back to SPLIT when an anchor has more than CAP (512) positives, where its rounds
     * would add to one element of S more than twice.
     */
    enum TripletBackward { SYM, SPLIT, DENSE }

    static final String BACKWARD_PROPERTY = "semihard.cuda.tripletBackward";
    /** Positives per anchor that tripletMine handles in one round (CAP in embedding.cu). */
    static final int MINE_CAP = 512;

    static TripletBackward tripletBackward(Strategy strategy, int[] labels, int anchors) {
        if (strategy == Strategy.BATCH_ALL) return TripletBackward.DENSE;
        String p = System.getProperty(BACKWARD_PROPERTY, "sym").trim().toLowerCase(java.util.Locale.ROOT);
        TripletBackward want = switch (p) {
            case "sym" -> TripletBackward.SYM;
            case "split" -> TripletBackward.SPLIT;
            case "dense" -> TripletBackward.DENSE;
            default -> throw new IllegalArgumentException("-D" + BACKWARD_PROPERTY + "=" + p + ": use sym, split or dense");
        };
        if (want == TripletBackward.SYM && maxPositives(labels, anchors) > MINE_CAP) return TripletBackward.SPLIT;
        return want;
    }

    /** The largest number of positives (same label, another anchor row) of any anchor among rows [0, anchors). */
    static int maxPositives(int[] labels, int anchors) {
        if (anchors <= 1) return 0;
        int lo = Integer.MAX_VALUE, hi = Integer.MIN_VALUE;
        for (int i = 0; i < anchors; i++) { lo = Math.min(lo, labels[i]); hi = Math.max(hi, labels[i]); }
        int max = 0;
        if ((long) hi - lo < 4L * anchors + 1024) {        // class indices: a counting array, no boxing
            int[] count = new int[hi - lo + 1];
            for (int i = 0; i < anchors; i++) max = Math.max(max, ++count[labels[i] - lo]);
        } else {
            Map<Integer, Integer> count = new HashMap<>();
            for (int i = 0; i < anchors; i++) max = Math.max(max, count.merge(labels[i], 1, Integer::sum));
        }
        return max - 1;
    }

    /**
     * -Dsemihard.cuda.planSmCount=N: plan the launches (tiles, split-K) for N multiprocessors instead of the
     * device's, e.g. 132 to run an H200's plans on the emulator (4 SMs) in tests. Read when a backend is created.
     */
    public static final String PLAN_SM_COUNT_PROPERTY = "semihard.cuda.planSmCount";
    /** The system property that turns the 32 x 256 tiles off (read when a backend is created). */
    public static final String THIN_TILES_PROPERTY = "semihard.cuda.thinTiles";
    /** -Dsemihard.cuda.thinTiles=false: no 32 x 256 tiles for M <= 32 nor 64 x 128 for M <= 64 (64 x 64 instead; for comparison). */
    private final boolean thinTiles = !"false".equals(System.getProperty(THIN_TILES_PROPERTY));

    /** Whether the 32 x 256 and 64 x 128 tiles may be planned (not off with {@link #THIN_TILES_PROPERTY}). */
    boolean thinTiles() { return thinTiles; }
    /** The system property that turns the tap-major convolution kernels off (read when a backend is created). */
    public static final String CONV_TAPS_PROPERTY = "semihard.cuda.convTaps";
    /**
     * -Dsemihard.cuda.convTaps=false: convolutions reduce channel-major (c, r, s) everywhere, each loaded
     * element finding its tap by division (the previous kernels; for comparison and as a fallback).
     */
    private final boolean convTaps = !"false".equals(System.getProperty(CONV_TAPS_PROPERTY));
    /** -Dsemihard.cuda.pipelinedGemm=false: fp32 GEMM tiles without register prefetching (a fallback; read per backend). */
    private final boolean pipelinedGemm = !"false".equals(System.getProperty("semihard.cuda.pipelinedGemm"));
    /** -Dsemihard.cuda.symmetricDistances=false: compute both triangles of square distance matrices (a fallback). */
    static final boolean SYMMETRIC_DISTANCES = !"false".equals(System.getProperty("semihard.cuda.symmetricDistances"));

    /**
     * S = G + G^T of the sym triplet backward [B, B] and its row masks (one 64-bit word per row: which
     * column chunks hold nonzeros), kept between calls and all zero between them (tripletSymGather
     * zeroes what it read), so a call does not memset B x B floats (1 GiB at B = 16384). Grown when a
     * larger batch comes; zeroed again when a call stopped between tripletMine and tripletSymGather
     * (symDirty); given back on out-of-memory and close.
     */
    private CudaBuffer symZero, symMask;
    private boolean symDirty;

    /** S for a batch of b (at least b * b floats, all zero); symMask holds at least b words. */
    private CudaBuffer symScratch(int b) {
        long floats = (long) b * b;
        if (symZero != null && (symZero.size() < floats || symMask.size() < 2L * b)) releaseSymScratch();
        if (symZero == null) {
            symZero = alloc(floats);
            symMask = alloc(2L * b);
            symDirty = true;
        }
        if (symDirty) {
            fill(symZero, 0, symZero.size(), 0f);
            fill(symMask, 0, symMask.size(), 0f);
            symDirty = false;
        }
        return symZero;
    }

    /** Columns per chunk of the row masks: at most 64 chunks, each a multiple of tripletSymGather's 128-column step. */
    static int symChunkCols(int b) {
        return Math.max(1, ceil(ceil(b, 64), 128)) * 128;
    }

    private void releaseSymScratch() {
        if (symZero == null) return;
        CudaBuffer z = symZero, m = symMask;
        symZero = null;
        symMask = null;
        z.close();
        m.close();
    }

    private CudaBuffer take(List<CudaBuffer> scratch, long floats) {
        CudaBuffer c = alloc(Math.max(floats, 1));
        scratch.add(c);
        return c;
    }

    // ================================================================== optimizer updates

    @Override
    public void sgdUpdate(long n, OptimizerParams.Sgd p, Buffer param, Buffer grad, Buffer velocity) {
        elementwise("sgdUpdate", n, n, p.lr(), p.momentum(), p.nesterov() ? 1 : 0, p.weightDecay(), param, grad, velocity);
    }

    @Override
    public void adamUpdate(long n, OptimizerParams.Adam p, Buffer param, Buffer grad, Buffer m, Buffer v) {
        if (p.step() < 1) throw new IllegalArgumentException("adamUpdate: step is 1-based, got " + p.step());
        float c1 = (float) (1 - Math.pow(p.beta1(), p.step())), c2 = (float) (1 - Math.pow(p.beta2(), p.step()));
        elementwise("adamUpdate", n, n, p.lr(), p.beta1(), p.beta2(), p.eps(), p.weightDecay(), p.decoupled() ? 1 : 0,
                c1, c2, param, grad, m, v);
    }

    @Override
    public void adagradUpdate(long n, OptimizerParams.Adagrad p, Buffer param, Buffer grad, Buffer accumulator) {
        elementwise("adagradUpdate", n, n, p.lr(), p.eps(), p.weightDecay(), param, grad, accumulator);
    }

    // ================================================================== kernel profile (opt-in)

    @Override public boolean profiling() { return profile != null; }

    @Override
    public Map<String, KernelProfile.Stat> snapshot() {
        if (profile == null) return Map.of();
        ctx();
        return profile.snapshot();
    }

    @Override
    public void reset() {
        if (profile == null) return;
        ctx();
        profile.reset();
    }

    // ================================================================== timing helpers (benchmarks, self-test)

    /** A device event pair for timing work on this backend's stream. */
    public final class Timer implements AutoCloseable {
        private final CUevent start = new CUevent(), stop = new CUevent();

        Timer() {
            ctx();
            cuEventCreate(start, 0);
            cuEventCreate(stop, 0);
        }

        public void start() { cuEventRecord(start, stream); }

        /** Records the stop event, waits for it, and returns the milliseconds since {@link #start()}. */
        public float stopMillis() {
            cuEventRecord(stop, stream);
            cuEventSynchronize(stop);
            float[] ms = new float[1];
            cuEventElapsedTime(ms, start, stop);
            return ms[0];
        }

        @Override
        public void close() {
            cuEventDestroy(start);
            cuEventDestroy(stop);
        }
    }

    /** A new device-event timer on this backend's stream. */
    public Timer timer() { return new Timer(); }

    @Override
    public String toString() { return "CudaBackend(" + deviceDescription() + ")"; }

    static String errorName(int code) { return CUresult.stringFor(code); }
}
