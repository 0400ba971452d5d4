/* FB_CLONES: compile a function for baseline x86-64, x86-64-v3 (AVX2) and x86-64-v4
 * (AVX-512) and pick the best version at load time (GCC/clang target_clones), so a wheel
 * runs on any x86-64 yet uses wide vectors where they exist; -march=native is not needed.
 * Elsewhere (or with FB_NO_TARGET_CLONES) it is empty: one portable version.
 */
#ifndef FB_SIMD_H
#define FB_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) \
    && defined(__linux__) && !defined(FB_NO_TARGET_CLONES)
#  if __has_attribute(target_clones)
#    define FB_CLONES \
        __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#  endif
#endif
#ifndef FB_CLONES
#  define FB_CLONES
#endif

#endif
