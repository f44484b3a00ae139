/* The lanes are added in one fixed order by both paths. */
static inline float lu_hsum(const float* a) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

static void lu_walk_scalar(const float* x, float* result) {
  float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  for (int g = 0; g < LU_G; ++g) {
    const int32_t* c = LU_CODE + g * LU_NI * 8;
    const float* t = LU_THR + g * LU_NI * 8;
    for (int l = 0; l < 8; ++l) {
      int32_t i = 0;
      for (int d = 0; d < LU_D; ++d) {
        const int32_t k = i * 8 + l, code = c[k];
        const float v = x[code & 0x7fffffff];
        i = 2 * i + 1 + ((v >= t[k]) | ((v != v) & (code < 0)));
      }
      acc[l] += LU_LEAF[(g * LU_NL + (i - LU_NI)) * 8 + l];
    }
  }
  result[0] += lu_hsum(acc);
}

static void (*lu_walk)(const float*, float*) = lu_walk_scalar;

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
/* Lane l of the result is lane l of row k_l of the eight rows of eight floats at p, where the
   sign bits of b0, b1, b2 are the bits of k_l. */
__attribute__((target("avx2")))
static inline __m256 lu_pick8(const float* p, __m256 b0, __m256 b1, __m256 b2) {
  const __m256 r01 = _mm256_blendv_ps(_mm256_load_ps(p), _mm256_load_ps(p + 8), b0);
  const __m256 r23 = _mm256_blendv_ps(_mm256_load_ps(p + 16), _mm256_load_ps(p + 24), b0);
  const __m256 r45 = _mm256_blendv_ps(_mm256_load_ps(p + 32), _mm256_load_ps(p + 40), b0);
  const __m256 r67 = _mm256_blendv_ps(_mm256_load_ps(p + 48), _mm256_load_ps(p + 56), b0);
  return _mm256_blendv_ps(_mm256_blendv_ps(r01, r23, b1), _mm256_blendv_ps(r45, r67, b1), b2);
}

__attribute__((target("avx2")))
static void lu_walk_avx2(const float* x, float* result) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i inner = _mm256_set1_epi32(LU_NI);
#if LU_NF_KIND == 1
  float xb[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  memcpy(xb, x, sizeof(float) * LU_NF);
  const __m256 xv = _mm256_loadu_ps(xb);
#elif LU_NF_KIND == 2
  float xb[16] = {0.0f};
  memcpy(xb, x, sizeof(float) * LU_NF);
  const __m256 xlo = _mm256_loadu_ps(xb), xhi = _mm256_loadu_ps(xb + 8);
#else
  const __m256i low = _mm256_set1_epi32(0x7fffffff);
#endif
  __m256 acc = _mm256_setzero_ps();
#if LU_NF_KIND == 1
#define LU_FETCH(code) _mm256_permutevar8x32_ps(xv, code)
#elif LU_NF_KIND == 2
  /* features 0-7 from xlo, 8-15 from xhi (the permutation reads the low 3 bits of the code);
     bit 3 of the feature index, shifted into the sign bit, picks the half */
#define LU_FETCH(code) _mm256_blendv_ps(_mm256_permutevar8x32_ps(xlo, code),                \
    _mm256_permutevar8x32_ps(xhi, code), _mm256_castsi256_ps(_mm256_slli_epi32(code, 28)))
#else
#define LU_FETCH(code) _mm256_i32gather_ps(x, _mm256_and_si256(code, low), 4)
#endif
  /* one step of the walk of group g, lane indices i */
#define LU_STEP(g, i) do {                                                              \
    const __m256i k_ = _mm256_add_epi32(_mm256_slli_epi32(i, 3), lane);                 \
    const __m256i code_ = _mm256_i32gather_epi32((const int*)(LU_CODE + (g) * LU_NI * 8), k_, 4); \
    const __m256 thr_ = _mm256_i32gather_ps(LU_THR + (g) * LU_NI * 8, k_, 4);             \
    const __m256 v_ = LU_FETCH(code_);                                                  \
    const __m256i ge_ = _mm256_castps_si256(_mm256_cmp_ps(v_, thr_, _CMP_GE_OQ));       \
    const __m256i nan_ = _mm256_castps_si256(_mm256_cmp_ps(v_, v_, _CMP_UNORD_Q));      \
    const __m256i dr_ = _mm256_srai_epi32(_mm256_and_si256(nan_, code_), 31);         \
    const __m256i go_ = _mm256_or_si256(ge_, dr_);                                      \
    i = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(i, i), one), go_);           \
  } while (0)
#define LU_LEAFV(g, i) _mm256_i32gather_ps(LU_LEAF + (g) * LU_NL * 8,                    \
    _mm256_add_epi32(_mm256_slli_epi32(_mm256_sub_epi32(i, inner), 3), lane), 4)
  /* the first four levels without gathers: at the root every lane reads node 0 (one load), one
     level down node 1 or 2 (two loads and a blend), then one of nodes 3-6 (four loads, three
     blends), then one of nodes 7-14 (eight loads, seven blends); the index arithmetic is
     LU_STEP's */
#define LU_GO(code_, thr_) _mm256_or_si256(                                             \
    _mm256_castps_si256(_mm256_cmp_ps(LU_FETCH(code_), thr_, _CMP_GE_OQ)),              \
    _mm256_srai_epi32(_mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(               \
        LU_FETCH(code_), LU_FETCH(code_), _CMP_UNORD_Q)), code_), 31))
#define LU_TOP(g, i) do {                                                               \
    const int32_t* c_ = LU_CODE + (g) * LU_NI * 8;                                      \
    const float* t_ = LU_THR + (g) * LU_NI * 8;                                         \
    const __m256i c0_ = _mm256_load_si256((const __m256i*)c_);                          \
    i = _mm256_sub_epi32(one, LU_GO(c0_, _mm256_load_ps(t_)));                          \
    if (LU_D > 1) {                                                                     \
      const __m256i right_ = _mm256_cmpeq_epi32(i, _mm256_set1_epi32(2));               \
      const __m256i c1_ = _mm256_blendv_epi8(_mm256_load_si256((const __m256i*)(c_ + 8)), \
          _mm256_load_si256((const __m256i*)(c_ + 16)), right_);                        \
      const __m256 t1_ = _mm256_blendv_ps(_mm256_load_ps(t_ + 8), _mm256_load_ps(t_ + 16), \
          _mm256_castsi256_ps(right_));                                                 \
      i = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(i, i), one), LU_GO(c1_, t1_)); \
    }                                                                                   \
    if (LU_D > 2) { /* nodes 3-6: bit 0 of i - 3 picks within a pair, bit 1 the pair */ \
      const __m256i j_ = _mm256_sub_epi32(i, _mm256_set1_epi32(3));                     \
      const __m256i b0_ = _mm256_slli_epi32(j_, 31), b1_ = _mm256_slli_epi32(j_, 30);   \
      const __m256i c2_ = _mm256_castps_si256(_mm256_blendv_ps(                         \
          _mm256_blendv_ps(_mm256_load_ps((const float*)(c_ + 24)),                     \
                           _mm256_load_ps((const float*)(c_ + 32)), _mm256_castsi256_ps(b0_)), \
          _mm256_blendv_ps(_mm256_load_ps((const float*)(c_ + 40)),                     \
                           _mm256_load_ps((const float*)(c_ + 48)), _mm256_castsi256_ps(b0_)), \
          _mm256_castsi256_ps(b1_)));                                                   \
      const __m256 t2_ = _mm256_blendv_ps(                                              \
          _mm256_blendv_ps(_mm256_load_ps(t_ + 24), _mm256_load_ps(t_ + 32),            \
                           _mm256_castsi256_ps(b0_)),                                   \
          _mm256_blendv_ps(_mm256_load_ps(t_ + 40), _mm256_load_ps(t_ + 48),            \
                           _mm256_castsi256_ps(b0_)),                                   \
          _mm256_castsi256_ps(b1_));                                                    \
      i = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(i, i), one), LU_GO(c2_, t2_)); \
    }                                                                                   \
    if (LU_D > 3) { /* nodes 7-14: the three bits of i - 7 pick one of eight rows */    \
      const __m256i j_ = _mm256_sub_epi32(i, _mm256_set1_epi32(7));                     \
      const __m256 b0_ = _mm256_castsi256_ps(_mm256_slli_epi32(j_, 31));                \
      const __m256 b1_ = _mm256_castsi256_ps(_mm256_slli_epi32(j_, 30));                \
      const __m256 b2_ = _mm256_castsi256_ps(_mm256_slli_epi32(j_, 29));                \
      const __m256i c3_ = _mm256_castps_si256(lu_pick8((const float*)(c_ + 56), b0_, b1_, b2_)); \
      const __m256 t3_ = lu_pick8(t_ + 56, b0_, b1_, b2_);                              \
      i = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(i, i), one), LU_GO(c3_, t3_)); \
    }                                                                                   \
  } while (0)
  const int top = LU_D > 3 ? 4 : LU_D > 2 ? 3 : LU_D > 1 ? 2 : 1;
  int g = 0;
  for (; g + 4 <= LU_G; g += 4) {  /* four independent walks side by side */
    __m256i i0, i1, i2, i3;
    LU_TOP(g, i0); LU_TOP(g + 1, i1); LU_TOP(g + 2, i2); LU_TOP(g + 3, i3);
    for (int d = top; d < LU_D; ++d) {
      LU_STEP(g, i0); LU_STEP(g + 1, i1); LU_STEP(g + 2, i2); LU_STEP(g + 3, i3);
    }
    acc = _mm256_add_ps(acc, LU_LEAFV(g, i0));
    acc = _mm256_add_ps(acc, LU_LEAFV(g + 1, i1));
    acc = _mm256_add_ps(acc, LU_LEAFV(g + 2, i2));
    acc = _mm256_add_ps(acc, LU_LEAFV(g + 3, i3));
  }
  for (; g < LU_G; ++g) {
    __m256i i0;
    LU_TOP(g, i0);
    for (int d = top; d < LU_D; ++d) LU_STEP(g, i0);
    acc = _mm256_add_ps(acc, LU_LEAFV(g, i0));
  }
  float a[8];
  _mm256_storeu_ps(a, acc);
  result[0] += lu_hsum(a);
}

__attribute__((constructor)) static void lu_pick_walk(void) {
  const char* force = getenv("LU_SIMD_ENV");
  __builtin_cpu_init();
  if (!(force && strcmp(force, "scalar") == 0) && __builtin_cpu_supports("avx2"))
    lu_walk = lu_walk_avx2;
}
#endif

__attribute__((visibility("default"))) int32_t lu_simd_avx2(void) {
  return lu_walk != lu_walk_scalar;
}

void predict_unit0(union Entry* data, float* result) { lu_walk((const float*)data, result); }
