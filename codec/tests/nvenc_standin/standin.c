/*
 * A stand-in for the NVIDIA driver's CUDA and NVENC libraries, for tests on machines without
 * an NVENC engine. It records every call (and whether the struct versions it was given are
 * the ones nvEncodeAPI.h defines) to calls.log beside itself, and returns a canned H.264
 * bitstream. A file named fail-open beside it makes opening a session fail as it does on a
 * GPU without NVENC.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ffnvcodec/nvEncodeAPI.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A file beside this library. */
static void beside(const char *name, char *out, size_t len) {
    Dl_info info;
    out[0] = 0;
    if (!dladdr((void *)beside, &info) || !info.dli_fname) return;
    const char *slash = strrchr(info.dli_fname, '/');
    int dir = slash ? (int)(slash - info.dli_fname) : 0;
    snprintf(out, len, "%.*s/%s", dir, info.dli_fname, name);
}

static void note(const char *fmt, ...) {
    char path[4096];
    beside("calls.log", path, sizeof path);
    FILE *f = fopen(path, "a");
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static const char *ver(uint32_t got, uint32_t want) { return got == want ? "ok" : "BAD_VERSION"; }

/* ---- CUDA driver API ---- */
int cuInit(unsigned flags) { note("cuInit %u", flags); return 0; }
int cuDeviceGetCount(int *n) { *n = 1; note("cuDeviceGetCount"); return 0; }
int cuDeviceGet(int *d, int ordinal) { *d = ordinal; note("cuDeviceGet %d", ordinal); return 0; }
int cuDeviceGetName(char *name, int len, int dev) { (void)dev; snprintf(name, len, "Stand-in RTX"); note("cuDeviceGetName"); return 0; }
int cuCtxCreate_v2(void **ctx, unsigned flags, int dev) { (void)flags; (void)dev; *ctx = (void *)0xC0DA; note("cuCtxCreate"); return 0; }
int cuCtxDestroy_v2(void *ctx) { note("cuCtxDestroy %s", ctx == (void *)0xC0DA ? "ok" : "BAD_CONTEXT"); return 0; }

/* ---- NVENC ---- */
static int forced_idr;
static unsigned char bitstream[64];
static int frames;
/* Frames since the session was initialised, and after how many encoding fails (-1: never), read
   from a file "fail-after" beside this library: a GPU that dies mid-stream. */
static int session_frames;
static int fail_after = -1;

NVENCSTATUS NvEncodeAPIGetMaxSupportedVersion(uint32_t *version) {
    *version = (NVENCAPI_MAJOR_VERSION << 4) | NVENCAPI_MINOR_VERSION;
    note("NvEncodeAPIGetMaxSupportedVersion");
    return NV_ENC_SUCCESS;
}

static NVENCSTATUS open_ex(NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS *p, void **enc) {
    note("nvEncOpenEncodeSessionEx %s device=%s api=%s", ver(p->version, NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER),
         p->deviceType == NV_ENC_DEVICE_TYPE_CUDA && p->device == (void *)0xC0DA ? "ok" : "BAD_DEVICE",
         p->apiVersion == NVENCAPI_VERSION ? "ok" : "BAD_API");
    char fail[4096];
    beside("fail-open", fail, sizeof fail);
    FILE *f = fopen(fail, "r");
    if (f) {
        fclose(f);
        return NV_ENC_ERR_NO_ENCODE_DEVICE;
    }
    *enc = (void *)0xE1C0;
    return NV_ENC_SUCCESS;
}

static NVENCSTATUS guid_count(void *enc, uint32_t *n) { (void)enc; *n = 1; note("nvEncGetEncodeGUIDCount"); return NV_ENC_SUCCESS; }
static NVENCSTATUS guids(void *enc, GUID *out, uint32_t size, uint32_t *n) {
    (void)enc;
    if (size >= 1) out[0] = NV_ENC_CODEC_H264_GUID;
    *n = 1;
    note("nvEncGetEncodeGUIDs");
    return NV_ENC_SUCCESS;
}
static NVENCSTATUS preset_ex(void *enc, GUID codec, GUID preset, NV_ENC_TUNING_INFO tuning, NV_ENC_PRESET_CONFIG *cfg) {
    (void)enc;
    note("nvEncGetEncodePresetConfigEx %s config=%s codec=%s preset=%s tuning=%d", ver(cfg->version, NV_ENC_PRESET_CONFIG_VER),
         ver(cfg->presetCfg.version, NV_ENC_CONFIG_VER), memcmp(&codec, &NV_ENC_CODEC_H264_GUID, sizeof codec) ? "BAD" : "h264",
         memcmp(&preset, &NV_ENC_PRESET_P4_GUID, sizeof preset) ? "BAD" : "p4", (int)tuning);
    cfg->presetCfg.gopLength = 250;
    cfg->presetCfg.frameIntervalP = 1;
    return NV_ENC_SUCCESS;
}
static NVENCSTATUS init(void *enc, NV_ENC_INITIALIZE_PARAMS *p) {
    (void)enc;
    NV_ENC_CONFIG *c = p->encodeConfig;
    note("nvEncInitializeEncoder %s config=%s %ux%u@%u/%u gop=%u idr=%u rc=%d bitrate=%u repeat_spspps=%u bframes=%d",
         ver(p->version, NV_ENC_INITIALIZE_PARAMS_VER), c ? ver(c->version, NV_ENC_CONFIG_VER) : "NULL", p->encodeWidth,
         p->encodeHeight, p->frameRateNum, p->frameRateDen, c ? c->gopLength : 0, c ? c->encodeCodecConfig.h264Config.idrPeriod : 0,
         c ? (int)c->rcParams.rateControlMode : -1, c ? c->rcParams.averageBitRate : 0,
         c ? c->encodeCodecConfig.h264Config.repeatSPSPPS : 0, c ? c->frameIntervalP - 1 : -1);
    session_frames = 0;
    fail_after = -1;
    char path[4096];
    beside("fail-after", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", &fail_after) != 1) fail_after = -1;
        fclose(f);
    }
    return NV_ENC_SUCCESS;
}
static unsigned char input_memory[1920 * 1088 * 3];
static NVENCSTATUS create_input(void *enc, NV_ENC_CREATE_INPUT_BUFFER *p) {
    (void)enc;
    note("nvEncCreateInputBuffer %s %ux%u fmt=%s", ver(p->version, NV_ENC_CREATE_INPUT_BUFFER_VER), p->width, p->height,
         p->bufferFmt == NV_ENC_BUFFER_FORMAT_IYUV ? "iyuv" : "BAD");
    p->inputBuffer = (void *)input_memory;
    return NV_ENC_SUCCESS;
}
static NVENCSTATUS create_bitstream(void *enc, NV_ENC_CREATE_BITSTREAM_BUFFER *p) {
    (void)enc;
    note("nvEncCreateBitstreamBuffer %s", ver(p->version, NV_ENC_CREATE_BITSTREAM_BUFFER_VER));
    p->bitstreamBuffer = (void *)bitstream;
    return NV_ENC_SUCCESS;
}
static NVENCSTATUS lock_input(void *enc, NV_ENC_LOCK_INPUT_BUFFER *p) {
    (void)enc;
    note("nvEncLockInputBuffer %s", ver(p->version, NV_ENC_LOCK_INPUT_BUFFER_VER));
    p->bufferDataPtr = input_memory;
    p->pitch = 1920; /* wider than the picture, as real drivers do */
    return NV_ENC_SUCCESS;
}
static NVENCSTATUS unlock_input(void *enc, NV_ENC_INPUT_PTR in) {
    (void)enc;
    /* The first luma row's first byte and the first U byte, as the caller copied them. */
    note("nvEncUnlockInputBuffer y0=%u u0=%u", ((unsigned char *)in)[0], ((unsigned char *)in)[1920 * 720]);
    return NV_ENC_SUCCESS;
}
static NVENCSTATUS encode(void *enc, NV_ENC_PIC_PARAMS *p) {
    (void)enc;
    if (fail_after >= 0 && session_frames >= fail_after) {
        note("nvEncEncodePicture FAILING after %d frames", session_frames);
        return NV_ENC_ERR_GENERIC;
    }
    session_frames++;
    forced_idr = (p->encodePicFlags & NV_ENC_PIC_FLAG_FORCEIDR) != 0;
    note("nvEncEncodePicture %s %ux%u pitch=%u ts=%llu idr=%d", ver(p->version, NV_ENC_PIC_PARAMS_VER), p->inputWidth,
         p->inputHeight, p->inputPitch, (unsigned long long)p->inputTimeStamp, forced_idr);
    frames++;
    return NV_ENC_SUCCESS;
}
static const unsigned char idr_au[] = {0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0, 0, 0, 1, 0x68, 0xee, 0x3c, 0x80,
                                       0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33};
static const unsigned char p_au[] = {0, 0, 0, 1, 0x41, 0x9a, 0x02, 0x05};
static NVENCSTATUS lock_bitstream(void *enc, NV_ENC_LOCK_BITSTREAM *p) {
    (void)enc;
    const unsigned char *au = forced_idr || frames == 1 ? idr_au : p_au;
    size_t n = forced_idr || frames == 1 ? sizeof idr_au : sizeof p_au;
    memcpy(bitstream, au, n);
    p->bitstreamBufferPtr = bitstream;
    p->bitstreamSizeInBytes = (uint32_t)n;
    note("nvEncLockBitstream %s", ver(p->version, NV_ENC_LOCK_BITSTREAM_VER));
    return NV_ENC_SUCCESS;
}
static NVENCSTATUS unlock_bitstream(void *enc, NV_ENC_OUTPUT_PTR out) { (void)enc; (void)out; note("nvEncUnlockBitstream"); return NV_ENC_SUCCESS; }
static NVENCSTATUS destroy_input(void *enc, NV_ENC_INPUT_PTR in) { (void)enc; (void)in; note("nvEncDestroyInputBuffer"); return NV_ENC_SUCCESS; }
static NVENCSTATUS destroy_bitstream(void *enc, NV_ENC_OUTPUT_PTR out) { (void)enc; (void)out; note("nvEncDestroyBitstreamBuffer"); return NV_ENC_SUCCESS; }
static NVENCSTATUS destroy(void *enc) { note("nvEncDestroyEncoder %s", enc == (void *)0xE1C0 ? "ok" : "BAD_SESSION"); return NV_ENC_SUCCESS; }
static const char *last_error(void *enc) { (void)enc; return "stand-in"; }

NVENCSTATUS NvEncodeAPICreateInstance(NV_ENCODE_API_FUNCTION_LIST *list) {
    note("NvEncodeAPICreateInstance %s", ver(list->version, NV_ENCODE_API_FUNCTION_LIST_VER));
    list->nvEncOpenEncodeSessionEx = open_ex;
    list->nvEncGetEncodeGUIDCount = guid_count;
    list->nvEncGetEncodeGUIDs = guids;
    list->nvEncGetEncodePresetConfigEx = preset_ex;
    list->nvEncInitializeEncoder = init;
    list->nvEncCreateInputBuffer = create_input;
    list->nvEncCreateBitstreamBuffer = create_bitstream;
    list->nvEncLockInputBuffer = lock_input;
    list->nvEncUnlockInputBuffer = unlock_input;
    list->nvEncEncodePicture = encode;
    list->nvEncLockBitstream = lock_bitstream;
    list->nvEncUnlockBitstream = unlock_bitstream;
    list->nvEncDestroyInputBuffer = destroy_input;
    list->nvEncDestroyBitstreamBuffer = destroy_bitstream;
    list->nvEncDestroyEncoder = destroy;
    list->nvEncGetLastErrorString = last_error;
    return NV_ENC_SUCCESS;
}
