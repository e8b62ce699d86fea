//! NVENC, the RTX's hardware H.264 encoder, loaded at run time.
//!
//! Nothing NVIDIA is linked: `libcuda.so.1` and `libnvidia-encode.so.1` are opened with
//! libloading when an encoder is asked for, so the binary builds and runs on machines with no
//! NVIDIA software at all. Every step that can fail (library missing, no CUDA device, a GPU with
//! no NVENC engine, a driver too old for API 11.1) says which, so the caller can log it and fall
//! back to openh264. Struct layouts come from Debian's `nvEncodeAPI.h` (ffnvcodec 11.1, MIT)
//! through bindgen (`sys.rs`, generated, not edited).

#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    missing_docs,
    unnecessary_transmutes,
    unused_imports,
    unsafe_op_in_unsafe_fn,
    clippy::all
)]
mod sys;

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::path::PathBuf;
use std::ptr;

use libloading::Library;

use crate::h264::{self, AvcConfig};
use crate::{CodecError, EncodedVideo, VideoEncoder, VideoSettings, Yuv420};

/// Where to find the driver's libraries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NvencLibraries {
    /// The NVENC library.
    pub encode: PathBuf,
    /// The CUDA driver library.
    pub cuda: PathBuf,
}

impl Default for NvencLibraries {
    fn default() -> Self {
        NvencLibraries {
            encode: PathBuf::from("libnvidia-encode.so.1"),
            cuda: PathBuf::from("libcuda.so.1"),
        }
    }
}

const fn struct_version(v: u32) -> u32 {
    sys::NVENCAPI_VERSION | (v << 16) | (0x7 << 28)
}
const FUNCTION_LIST_VER: u32 = struct_version(2);
const OPEN_SESSION_VER: u32 = struct_version(1);
const PRESET_CONFIG_VER: u32 = struct_version(4) | (1 << 31);
const CONFIG_VER: u32 = struct_version(7) | (1 << 31);
const INITIALIZE_VER: u32 = struct_version(5) | (1 << 31);
const CREATE_INPUT_VER: u32 = struct_version(1);
const CREATE_BITSTREAM_VER: u32 = struct_version(1);
const LOCK_INPUT_VER: u32 = struct_version(1);
const PIC_PARAMS_VER: u32 = struct_version(4) | (1 << 31);
const LOCK_BITSTREAM_VER: u32 = struct_version(1);
/// The API version this code speaks, as NvEncodeAPIGetMaxSupportedVersion reports it.
const REQUIRED_VERSION: u32 = (sys::NVENCAPI_MAJOR_VERSION << 4) | sys::NVENCAPI_MINOR_VERSION;

const fn guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> sys::GUID {
    sys::GUID {
        Data1: d1,
        Data2: d2,
        Data3: d3,
        Data4: d4,
    }
}
const CODEC_H264: sys::GUID = guid(
    0x6bc82762,
    0x4e63,
    0x4ca4,
    [0xaa, 0x85, 0x1e, 0x50, 0xf3, 0x21, 0xf6, 0xbf],
);
const PROFILE_HIGH: sys::GUID = guid(
    0xe7cbc309,
    0x4f7a,
    0x4b89,
    [0xaf, 0x2a, 0xd5, 0x37, 0xc9, 0x2b, 0xe3, 0x10],
);
const PRESET_P4: sys::GUID = guid(
    0x90a7b826,
    0xdf06,
    0x4862,
    [0xb9, 0xd2, 0xcd, 0x6d, 0x73, 0xa0, 0x86, 0x81],
);

const SUCCESS: sys::NVENCSTATUS = sys::_NVENCSTATUS_NV_ENC_SUCCESS;
const NEED_MORE_INPUT: sys::NVENCSTATUS = sys::_NVENCSTATUS_NV_ENC_ERR_NEED_MORE_INPUT;

fn guid_eq(a: &sys::GUID, b: &sys::GUID) -> bool {
    a.Data1 == b.Data1 && a.Data2 == b.Data2 && a.Data3 == b.Data3 && a.Data4 == b.Data4
}

fn status_name(s: sys::NVENCSTATUS) -> &'static str {
    match s {
        1 => "NO_ENCODE_DEVICE",
        2 => "UNSUPPORTED_DEVICE",
        3 => "INVALID_ENCODERDEVICE",
        4 => "INVALID_DEVICE",
        5 => "DEVICE_NOT_EXIST",
        6 => "INVALID_PTR",
        8 => "INVALID_PARAM",
        10 => "OUT_OF_MEMORY",
        11 => "ENCODER_NOT_INITIALIZED",
        12 => "UNSUPPORTED_PARAM",
        15 => "INVALID_VERSION",
        20 => "GENERIC",
        21 => "INCOMPATIBLE_CLIENT_KEY",
        22 => "UNIMPLEMENTED",
        _ => "error",
    }
}

type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
type CuCtxCreate = unsafe extern "C" fn(*mut *mut c_void, c_uint, c_int) -> c_int;
type CuCtxDestroy = unsafe extern "C" fn(*mut c_void) -> c_int;
type GetMaxVersion = unsafe extern "C" fn(*mut u32) -> sys::NVENCSTATUS;
type CreateInstance =
    unsafe extern "C" fn(*mut sys::NV_ENCODE_API_FUNCTION_LIST) -> sys::NVENCSTATUS;

/// An error with its causes, as the loader reported them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn open_library(path: &PathBuf, what: &str) -> Result<Library, CodecError> {
    // SAFETY: loading a shared library runs its initialisers; these are the NVIDIA driver's.
    unsafe { Library::new(path) }.map_err(|e| {
        CodecError::Unavailable(format!(
            "NVENC unavailable: cannot load {what} ({}): {}",
            path.display(),
            chain(&e)
        ))
    })
}

fn symbol<T: Copy>(lib: &Library, name: &str) -> Result<T, CodecError> {
    // SAFETY: the symbol types above match the driver API's C prototypes.
    unsafe { lib.get::<T>(name.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| {
            CodecError::Unavailable(format!("NVENC unavailable: {name} missing: {}", chain(&e)))
        })
}

/// The CUDA driver, a device and a context on it.
struct Cuda {
    ctx: *mut c_void,
    destroy: CuCtxDestroy,
    device_name: String,
    _lib: Library,
}

impl Cuda {
    fn open(path: &PathBuf) -> Result<Cuda, CodecError> {
        let lib = open_library(path, "the CUDA driver (is the NVIDIA driver installed?)")?;
        let init: CuInit = symbol(&lib, "cuInit")?;
        let count: CuDeviceGetCount = symbol(&lib, "cuDeviceGetCount")?;
        let get: CuDeviceGet = symbol(&lib, "cuDeviceGet")?;
        let name: CuDeviceGetName = symbol(&lib, "cuDeviceGetName")?;
        let create: CuCtxCreate = symbol(&lib, "cuCtxCreate_v2")?;
        let destroy: CuCtxDestroy = symbol(&lib, "cuCtxDestroy_v2")?;
        let cuda = |what: &str, rc: c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(CodecError::Unavailable(format!(
                    "NVENC unavailable: {what} failed (CUDA error {rc})"
                )))
            }
        };
        let (mut n, mut device) = (0, 0);
        let mut raw_name = [0 as c_char; 128];
        let mut ctx = ptr::null_mut();
        // SAFETY: every pointer is to a live local sized as the API requires.
        unsafe {
            cuda("cuInit", init(0))?;
            cuda("cuDeviceGetCount", count(&mut n))?;
            if n < 1 {
                return Err(CodecError::Unavailable(
                    "NVENC unavailable: no CUDA device".into(),
                ));
            }
            cuda("cuDeviceGet", get(&mut device, 0))?;
            cuda(
                "cuDeviceGetName",
                name(raw_name.as_mut_ptr(), raw_name.len() as c_int, device),
            )?;
            cuda("cuCtxCreate", create(&mut ctx, 0, device))?;
        }
        // SAFETY: cuDeviceGetName wrote a NUL-terminated string into the buffer.
        let device_name = unsafe { CStr::from_ptr(raw_name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Ok(Cuda {
            ctx,
            destroy,
            device_name,
            _lib: lib,
        })
    }
}

impl Drop for Cuda {
    fn drop(&mut self) {
        // SAFETY: the context was created by this value and is destroyed once.
        unsafe {
            (self.destroy)(self.ctx);
        }
    }
}

/// An NVENC H.264 encoder session on the first CUDA device.
pub struct NvencEncoder {
    list: Box<sys::NV_ENCODE_API_FUNCTION_LIST>,
    session: *mut c_void,
    input: sys::NV_ENC_INPUT_PTR,
    output: sys::NV_ENC_OUTPUT_PTR,
    width: u32,
    height: u32,
    config: Option<AvcConfig>,
    frame: u32,
    // Dropped after the session (field order): the library, then the CUDA context.
    _lib: Library,
    cuda: Cuda,
}

// SAFETY: the session is owned by this value and used only through `&mut self`.
unsafe impl Send for NvencEncoder {}

macro_rules! call {
    ($enc:expr, $f:ident, $($arg:expr),*) => {{
        let f = $enc.list.$f.ok_or_else(|| CodecError::Unavailable(format!("NVENC: {} missing from the driver's function list", stringify!($f))))?;
        // SAFETY: the function comes from the driver's list for this session; the arguments
        // are live structs of the versions the header defines.
        let status = unsafe { f($($arg),*) };
        status
    }};
}

impl NvencEncoder {
    /// Opens a session and configures it: H.264 High, CBR, preset P4 with low-latency tuning, an
    /// IDR every `keyframe_secs`, no B-frames, SPS/PPS repeated on every IDR, BT.709 VUI.
    pub fn new(s: &VideoSettings) -> Result<NvencEncoder, CodecError> {
        s.validate()?;
        let cuda = Cuda::open(&s.nvenc.cuda)?;
        let lib = open_library(&s.nvenc.encode, "the NVENC library (libnvidia-encode)")?;
        let max_version: GetMaxVersion = symbol(&lib, "NvEncodeAPIGetMaxSupportedVersion")?;
        let create: CreateInstance = symbol(&lib, "NvEncodeAPICreateInstance")?;
        let mut version = 0u32;
        // SAFETY: writes one u32.
        let rc = unsafe { max_version(&mut version) };
        if rc != SUCCESS || version < REQUIRED_VERSION {
            return Err(CodecError::Unavailable(format!(
                "NVENC unavailable: the driver supports API {}.{} and {}.{} is needed (update the NVIDIA driver)",
                version >> 4,
                version & 0xf,
                sys::NVENCAPI_MAJOR_VERSION,
                sys::NVENCAPI_MINOR_VERSION
            )));
        }
        // SAFETY: a zeroed function list with its version set is what CreateInstance fills.
        let mut list: Box<sys::NV_ENCODE_API_FUNCTION_LIST> =
            Box::new(unsafe { std::mem::zeroed() });
        list.version = FUNCTION_LIST_VER;
        // SAFETY: see above.
        let rc = unsafe { create(&mut *list) };
        if rc != SUCCESS {
            return Err(CodecError::Unavailable(format!(
                "NVENC unavailable: NvEncodeAPICreateInstance failed ({})",
                status_name(rc)
            )));
        }
        let mut enc = NvencEncoder {
            list,
            session: ptr::null_mut(),
            input: ptr::null_mut(),
            output: ptr::null_mut(),
            width: s.width,
            height: s.height,
            config: None,
            frame: 0,
            _lib: lib,
            cuda,
        };
        enc.open_session()?;
        enc.configure(s)?;
        Ok(enc)
    }

    /// The GPU the session runs on.
    pub fn device_name(&self) -> &str {
        &self.cuda.device_name
    }

    fn fail(&self, what: &str, status: sys::NVENCSTATUS) -> CodecError {
        let detail = self
            .list
            .nvEncGetLastErrorString
            .filter(|_| !self.session.is_null())
            // SAFETY: the driver returns a NUL-terminated string owned by the session, or null.
            .map(|f| unsafe { f(self.session) })
            .filter(|p| !p.is_null())
            // SAFETY: non-null, NUL-terminated, see above.
            .map(|p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
            .unwrap_or_default();
        CodecError::Encode(format!(
            "NVENC {what}: {} ({status}) {detail}",
            status_name(status)
        ))
    }

    fn open_session(&mut self) -> Result<(), CodecError> {
        // SAFETY: all-zero is a valid bit pattern for these plain C structs.
        let mut params: sys::NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS = unsafe { std::mem::zeroed() };
        params.version = OPEN_SESSION_VER;
        params.deviceType = sys::_NV_ENC_DEVICE_TYPE_NV_ENC_DEVICE_TYPE_CUDA;
        params.device = self.cuda.ctx;
        params.apiVersion = sys::NVENCAPI_VERSION;
        let mut session = ptr::null_mut();
        let status = call!(self, nvEncOpenEncodeSessionEx, &mut params, &mut session);
        if status != SUCCESS {
            return Err(CodecError::Unavailable(format!(
                "NVENC unavailable on {}: the GPU opened no encode session ({}); it may have no NVENC engine",
                self.cuda.device_name,
                status_name(status)
            )));
        }
        self.session = session;
        let mut count = 0u32;
        let status = call!(self, nvEncGetEncodeGUIDCount, self.session, &mut count);
        if status != SUCCESS {
            return Err(self.fail("nvEncGetEncodeGUIDCount", status));
        }
        let mut guids = vec![guid(0, 0, 0, [0; 8]); count as usize];
        let mut got = 0u32;
        let status = call!(
            self,
            nvEncGetEncodeGUIDs,
            self.session,
            guids.as_mut_ptr(),
            count,
            &mut got
        );
        if status != SUCCESS {
            return Err(self.fail("nvEncGetEncodeGUIDs", status));
        }
        if !guids
            .iter()
            .take(got as usize)
            .any(|g| guid_eq(g, &CODEC_H264))
        {
            return Err(CodecError::Unavailable(format!(
                "NVENC unavailable on {}: no H.264 encoder",
                self.cuda.device_name
            )));
        }
        Ok(())
    }

    fn configure(&mut self, s: &VideoSettings) -> Result<(), CodecError> {
        let tuning = sys::NV_ENC_TUNING_INFO_NV_ENC_TUNING_INFO_LOW_LATENCY;
        // SAFETY: all-zero is a valid bit pattern for these plain C structs.
        let mut preset: Box<sys::NV_ENC_PRESET_CONFIG> = Box::new(unsafe { std::mem::zeroed() });
        preset.version = PRESET_CONFIG_VER;
        preset.presetCfg.version = CONFIG_VER;
        let status = call!(
            self,
            nvEncGetEncodePresetConfigEx,
            self.session,
            CODEC_H264,
            PRESET_P4,
            tuning,
            &mut *preset
        );
        if status != SUCCESS {
            return Err(self.fail("nvEncGetEncodePresetConfigEx", status));
        }
        let mut config = preset.presetCfg;
        let bps = s.bitrate_kbps * 1000;
        config.version = CONFIG_VER;
        config.profileGUID = PROFILE_HIGH;
        config.gopLength = s.gop();
        config.frameIntervalP = 1;
        config.rcParams.rateControlMode = sys::_NV_ENC_PARAMS_RC_MODE_NV_ENC_PARAMS_RC_CBR;
        config.rcParams.averageBitRate = bps;
        config.rcParams.maxBitRate = bps;
        config.rcParams.vbvBufferSize = bps / s.fps;
        config.rcParams.vbvInitialDelay = bps / s.fps;
        // SAFETY: the union's H.264 member is the one the H.264 preset filled.
        let h264 = unsafe { &mut config.encodeCodecConfig.h264Config };
        h264.idrPeriod = s.gop();
        h264.set_repeatSPSPPS(1);
        let vui = &mut h264.h264VUIParameters;
        vui.videoSignalTypePresentFlag = 1;
        vui.videoFormat = 5;
        vui.videoFullRangeFlag = 0;
        vui.colourDescriptionPresentFlag = 1;
        vui.colourPrimaries = 1;
        vui.transferCharacteristics = 1;
        vui.colourMatrix = 1;

        // SAFETY: as above.
        let mut init: Box<sys::NV_ENC_INITIALIZE_PARAMS> = Box::new(unsafe { std::mem::zeroed() });
        init.version = INITIALIZE_VER;
        init.encodeGUID = CODEC_H264;
        init.presetGUID = PRESET_P4;
        init.encodeWidth = s.width;
        init.encodeHeight = s.height;
        init.darWidth = s.width;
        init.darHeight = s.height;
        init.frameRateNum = s.fps;
        init.frameRateDen = 1;
        init.enablePTD = 1;
        init.encodeConfig = &mut config;
        init.maxEncodeWidth = s.width;
        init.maxEncodeHeight = s.height;
        init.tuningInfo = tuning;
        let status = call!(self, nvEncInitializeEncoder, self.session, &mut *init);
        if status != SUCCESS {
            return Err(self.fail("nvEncInitializeEncoder", status));
        }

        // SAFETY: as above.
        let mut input: sys::NV_ENC_CREATE_INPUT_BUFFER = unsafe { std::mem::zeroed() };
        input.version = CREATE_INPUT_VER;
        input.width = s.width;
        input.height = s.height;
        input.bufferFmt = sys::_NV_ENC_BUFFER_FORMAT_NV_ENC_BUFFER_FORMAT_IYUV;
        let status = call!(self, nvEncCreateInputBuffer, self.session, &mut input);
        if status != SUCCESS {
            return Err(self.fail("nvEncCreateInputBuffer", status));
        }
        self.input = input.inputBuffer;
        // SAFETY: as above.
        let mut output: sys::NV_ENC_CREATE_BITSTREAM_BUFFER = unsafe { std::mem::zeroed() };
        output.version = CREATE_BITSTREAM_VER;
        let status = call!(self, nvEncCreateBitstreamBuffer, self.session, &mut output);
        if status != SUCCESS {
            return Err(self.fail("nvEncCreateBitstreamBuffer", status));
        }
        self.output = output.bitstreamBuffer;
        Ok(())
    }

    fn upload(&mut self, pic: &Yuv420) -> Result<u32, CodecError> {
        // SAFETY: as above.
        let mut lock: sys::NV_ENC_LOCK_INPUT_BUFFER = unsafe { std::mem::zeroed() };
        lock.version = LOCK_INPUT_VER;
        lock.inputBuffer = self.input;
        let status = call!(self, nvEncLockInputBuffer, self.session, &mut lock);
        if status != SUCCESS {
            return Err(self.fail("nvEncLockInputBuffer", status));
        }
        let (w, h, pitch) = (
            self.width as usize,
            self.height as usize,
            lock.pitch as usize,
        );
        let base = lock.bufferDataPtr.cast::<u8>();
        if base.is_null() || pitch < w {
            let _ = call!(self, nvEncUnlockInputBuffer, self.session, self.input);
            return Err(CodecError::Encode(format!(
                "NVENC gave an input buffer with pitch {pitch} for width {w}"
            )));
        }
        // IYUV in NVENC: Y (pitch), then U and V (pitch / 2 each), planes back to back.
        let copy = |dst: *mut u8, dst_pitch: usize, src: &[u8], row: usize, rows: usize| {
            for r in 0..rows {
                // SAFETY: the locked buffer holds `rows` rows of `dst_pitch` bytes from `dst`,
                // and `src` holds `rows` rows of `row` bytes (Yuv420's planes).
                unsafe {
                    ptr::copy_nonoverlapping(src.as_ptr().add(r * row), dst.add(r * dst_pitch), row)
                };
            }
        };
        // SAFETY: offsets stay inside the buffer NVENC allocated for a w x h IYUV picture.
        unsafe {
            copy(base, pitch, &pic.y, w, h);
            let u = base.add(pitch * h);
            copy(u, pitch / 2, &pic.u, w / 2, h / 2);
            let v = u.add((pitch / 2) * (h / 2));
            copy(v, pitch / 2, &pic.v, w / 2, h / 2);
        }
        let status = call!(self, nvEncUnlockInputBuffer, self.session, self.input);
        if status != SUCCESS {
            return Err(self.fail("nvEncUnlockInputBuffer", status));
        }
        Ok(lock.pitch)
    }
}

impl VideoEncoder for NvencEncoder {
    fn name(&self) -> &'static str {
        "nvenc"
    }

    fn encode(
        &mut self,
        pic: &Yuv420,
        pts_ms: u64,
        force_keyframe: bool,
    ) -> Result<Option<EncodedVideo>, CodecError> {
        if pic.width() != self.width || pic.height() != self.height {
            return Err(CodecError::Config(format!(
                "a {}x{} picture for a {}x{} encoder",
                pic.width(),
                pic.height(),
                self.width,
                self.height
            )));
        }
        let pitch = self.upload(pic)?;
        // SAFETY: as above.
        let mut params: Box<sys::NV_ENC_PIC_PARAMS> = Box::new(unsafe { std::mem::zeroed() });
        params.version = PIC_PARAMS_VER;
        params.inputWidth = self.width;
        params.inputHeight = self.height;
        params.inputPitch = pitch;
        params.frameIdx = self.frame;
        params.inputTimeStamp = pts_ms;
        params.inputBuffer = self.input;
        params.outputBitstream = self.output;
        params.bufferFmt = sys::_NV_ENC_BUFFER_FORMAT_NV_ENC_BUFFER_FORMAT_IYUV;
        params.pictureStruct = sys::_NV_ENC_PIC_STRUCT_NV_ENC_PIC_STRUCT_FRAME;
        if force_keyframe {
            params.encodePicFlags = sys::_NV_ENC_PIC_FLAGS_NV_ENC_PIC_FLAG_FORCEIDR
                | sys::_NV_ENC_PIC_FLAGS_NV_ENC_PIC_FLAG_OUTPUT_SPSPPS;
        }
        self.frame = self.frame.wrapping_add(1);
        let status = call!(self, nvEncEncodePicture, self.session, &mut *params);
        if status == NEED_MORE_INPUT {
            return Ok(None);
        }
        if status != SUCCESS {
            return Err(self.fail("nvEncEncodePicture", status));
        }
        // SAFETY: as above.
        let mut lock: sys::NV_ENC_LOCK_BITSTREAM = unsafe { std::mem::zeroed() };
        lock.version = LOCK_BITSTREAM_VER;
        lock.outputBitstream = self.output;
        let status = call!(self, nvEncLockBitstream, self.session, &mut lock);
        if status != SUCCESS {
            return Err(self.fail("nvEncLockBitstream", status));
        }
        let annex_b = if lock.bitstreamBufferPtr.is_null() {
            Vec::new()
        } else {
            // SAFETY: while locked, the driver's buffer holds `bitstreamSizeInBytes` bytes.
            unsafe {
                std::slice::from_raw_parts(
                    lock.bitstreamBufferPtr.cast::<u8>(),
                    lock.bitstreamSizeInBytes as usize,
                )
            }
            .to_vec()
        };
        let status = call!(self, nvEncUnlockBitstream, self.session, self.output);
        if status != SUCCESS {
            return Err(self.fail("nvEncUnlockBitstream", status));
        }
        let au = h264::access_unit(&annex_b);
        if let Some(config) = au.config {
            self.config = Some(config);
        }
        if au.avcc.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedVideo {
            pts_ms,
            keyframe: au.keyframe,
            avcc: au.avcc,
        }))
    }

    fn config(&self) -> Option<&AvcConfig> {
        self.config.as_ref()
    }
}

impl Drop for NvencEncoder {
    fn drop(&mut self) {
        if self.session.is_null() {
            return;
        }
        // SAFETY: each resource was created by this session and is released once, before the
        // session itself; the function pointers are from the same driver list.
        unsafe {
            if !self.input.is_null()
                && let Some(f) = self.list.nvEncDestroyInputBuffer
            {
                f(self.session, self.input);
            }
            if !self.output.is_null()
                && let Some(f) = self.list.nvEncDestroyBitstreamBuffer
            {
                f(self.session, self.output);
            }
            if let Some(f) = self.list.nvEncDestroyEncoder {
                f(self.session);
            }
        }
    }
}

/// Opens and closes a 720p session to tell whether NVENC works here; returns the GPU's name.
pub fn probe(libraries: &NvencLibraries) -> Result<String, CodecError> {
    let settings = VideoSettings {
        nvenc: libraries.clone(),
        ..VideoSettings::hd720()
    };
    NvencEncoder::new(&settings).map(|e| e.device_name().to_string())
}
