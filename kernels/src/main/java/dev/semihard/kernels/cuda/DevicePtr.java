package dev.semihard.kernels.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A {@link CUdeviceptr} that tells its address, so that kernel arguments can be packed into one
 * buffer ({@code CudaBackend#launch}) instead of one JCuda {@code Pointer} per argument.
 */
final class DevicePtr extends CUdeviceptr {
    /** The device address (valid after {@code cuMemAlloc} filled this object). */
    long address() { return getNativePointer(); }
}
