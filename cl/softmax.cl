/* softmax kernels: being written (placeholder so the build lists every family). */
