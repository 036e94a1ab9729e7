/* A library that takes 700 bytes of initial-exec TLS, as numpy, jemalloc or torch do: once
 * it is loaded, little of glibc's static TLS surplus is left for libraries dlopen'ed after. */
__thread char tls_hog_bytes[700] __attribute__((tls_model("initial-exec")));

int tls_hog_touch(int value) {
    tls_hog_bytes[value % 700] = (char)value;
    return tls_hog_bytes[(value + 1) % 700];
}
