/* probe.c: being written (issue #7); placeholder so the build lists it. */
typedef int sc_placeholder_probe;
