/* augmentation kernels: being written (issue #7). */
