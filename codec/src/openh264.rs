//! The software H.264 encoder: Cisco's openh264, built from source (with its assembly when
//! `nasm` is installed), driven directly so that it runs one slice per thread.

use std::ptr;

use openh264_sys2::{
    CAMERA_VIDEO_REAL_TIME, CONSTANT_ID, ENCODER_OPTION, ENCODER_OPTION_BITRATE,
    ENCODER_OPTION_DATAFORMAT, ENCODER_OPTION_MAX_BITRATE, ENCODER_OPTION_TRACE_LEVEL, ISVCEncoder,
    LAYER_NUM, LOW_COMPLEXITY, PRO_BASELINE, RC_BITRATE_MODE, SBitrateInfo, SEncParamExt,
    SFrameBSInfo, SM_FIXEDSLCNUM_SLICE, SPATIAL_LAYER_0, SPATIAL_LAYER_ALL, SSourcePicture,
    WELS_LOG_QUIET, source::APILoader, videoFormatI420, videoFrameTypeInvalid, videoFrameTypeSkip,
};

use crate::h264::{self, AvcConfig};
use crate::{CodecError, EncodedVideo, VideoEncoder, VideoSettings, Yuv420};

/// openh264 with CBR rate control, a fixed keyframe interval and `threads` slices per frame.
pub struct OpenH264Encoder {
    encoder: *mut ISVCEncoder,
    info: Box<SFrameBSInfo>,
    width: u32,
    height: u32,
    config: Option<AvcConfig>,
    annex_b: Vec<u8>,
    kbps: u32,
}

// SAFETY: the encoder handle is owned by this value and only used through `&mut self`.
unsafe impl Send for OpenH264Encoder {}

/// A vtable entry, or an error if this openh264 build lacks it.
fn vfn<T>(f: Option<T>, name: &str) -> Result<T, CodecError> {
    f.ok_or_else(|| CodecError::Unavailable(format!("openh264 has no {name}")))
}

fn check(what: &str, rc: i32) -> Result<(), CodecError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(CodecError::Encode(format!("openh264 {what} returned {rc}")))
    }
}

impl OpenH264Encoder {
    /// Creates and configures the encoder.
    pub fn new(s: &VideoSettings) -> Result<OpenH264Encoder, CodecError> {
        s.validate()?;
        let mut encoder: *mut ISVCEncoder = ptr::null_mut();
        // SAFETY: WelsCreateSVCEncoder writes a valid encoder pointer or fails.
        check("create", unsafe {
            APILoader::WelsCreateSVCEncoder(&mut encoder)
        })?;
        if encoder.is_null() {
            return Err(CodecError::Unavailable(
                "openh264 could not create an encoder".into(),
            ));
        }
        let this = OpenH264Encoder {
            encoder,
            info: Box::default(),
            width: s.width,
            height: s.height,
            config: None,
            annex_b: Vec::with_capacity(256 * 1024),
            kbps: s.bitrate_kbps,
        };
        let bps = s.bitrate_kbps as i32 * 1000;
        // SAFETY: zeroed SEncParamExt is a valid input for GetDefaultParams, which fills it.
        let mut p: SEncParamExt = unsafe { std::mem::zeroed() };
        let vt = this.vtable();
        // SAFETY: the vtable functions come from a live encoder; every pointer passed is valid.
        unsafe {
            check(
                "GetDefaultParams",
                vfn(vt.GetDefaultParams, "GetDefaultParams")?(this.encoder, &mut p),
            )?;
        }
        p.iUsageType = CAMERA_VIDEO_REAL_TIME;
        p.iPicWidth = s.width as i32;
        p.iPicHeight = s.height as i32;
        p.iTargetBitrate = bps;
        p.iMaxBitrate = bps;
        p.iRCMode = RC_BITRATE_MODE;
        p.fMaxFrameRate = s.fps as f32;
        p.iTemporalLayerNum = 1;
        p.iSpatialLayerNum = 1;
        p.iComplexityMode = LOW_COMPLEXITY;
        p.uiIntraPeriod = s.gop();
        p.eSpsPpsIdStrategy = CONSTANT_ID;
        p.bEnableFrameSkip = false;
        p.bEnableSceneChangeDetect = false;
        p.iMultipleThreadIdc = s.threads.max(1);
        p.bUseLoadBalancing = false;
        p.iLoopFilterDisableIdc = 0;
        p.iEntropyCodingModeFlag = 0;
        let layer = &mut p.sSpatialLayers[0];
        layer.iVideoWidth = s.width as i32;
        layer.iVideoHeight = s.height as i32;
        layer.fFrameRate = s.fps as f32;
        layer.iSpatialBitrate = bps;
        layer.iMaxSpatialBitrate = bps;
        layer.uiProfileIdc = PRO_BASELINE;
        layer.sSliceArgument.uiSliceMode = SM_FIXEDSLCNUM_SLICE;
        layer.sSliceArgument.uiSliceNum = u32::from(s.threads.max(1));
        // BT.709, limited range: how the frames were converted.
        layer.bVideoSignalTypePresent = true;
        layer.uiVideoFormat = 5;
        layer.bFullRange = false;
        layer.bColorDescriptionPresent = true;
        layer.uiColorPrimaries = 1;
        layer.uiTransferCharacteristics = 1;
        layer.uiColorMatrix = 1;
        let mut format = videoFormatI420;
        let mut trace = WELS_LOG_QUIET;
        // SAFETY: as above; options are passed as pointers to ints that outlive the calls.
        unsafe {
            // Quiet before initialising: openh264 otherwise prints its parameter notes to stderr.
            // (Before initialisation this option may report "not initialised"; it still applies.)
            vfn(vt.SetOption, "SetOption")?(
                this.encoder,
                ENCODER_OPTION_TRACE_LEVEL,
                (&raw mut trace).cast(),
            );
            check(
                "InitializeExt",
                vfn(vt.InitializeExt, "InitializeExt")?(this.encoder, &p),
            )?;
            check(
                "SetOption(trace)",
                vfn(vt.SetOption, "SetOption")?(
                    this.encoder,
                    ENCODER_OPTION_TRACE_LEVEL,
                    (&raw mut trace).cast(),
                ),
            )?;
            check(
                "SetOption(format)",
                vfn(vt.SetOption, "SetOption")?(
                    this.encoder,
                    ENCODER_OPTION_DATAFORMAT,
                    (&raw mut format).cast(),
                ),
            )?;
        }
        Ok(this)
    }

    fn set_rate(
        &mut self,
        option: ENCODER_OPTION,
        layer: LAYER_NUM,
        bps: i32,
    ) -> Result<(), CodecError> {
        let vt = self.vtable();
        let mut info = SBitrateInfo {
            iLayer: layer,
            iBitrate: bps,
        };
        // SAFETY: the encoder is live; `info` outlives the call and is what the option reads.
        check("SetOption(bitrate)", unsafe {
            vfn(vt.SetOption, "SetOption")?(self.encoder, option, (&raw mut info).cast())
        })
    }

    fn vtable(&self) -> openh264_sys2::ISVCEncoderVtbl {
        // SAFETY: `encoder` points at a live encoder whose first field is its vtable pointer.
        unsafe { **self.encoder }
    }
}

impl VideoEncoder for OpenH264Encoder {
    fn name(&self) -> &'static str {
        "openh264"
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
        let vt = self.vtable();
        let w = self.width as i32;
        let source = SSourcePicture {
            iColorFormat: videoFormatI420,
            iStride: [w, w / 2, w / 2, 0],
            pData: [
                pic.y.as_ptr().cast_mut(),
                pic.u.as_ptr().cast_mut(),
                pic.v.as_ptr().cast_mut(),
                ptr::null_mut(),
            ],
            iPicWidth: w,
            iPicHeight: self.height as i32,
            uiTimeStamp: pts_ms as i64,
            bPsnrY: false,
            bPsnrU: false,
            bPsnrV: false,
        };
        // SAFETY: the planes are sized for these dimensions (checked above and by Yuv420); the
        // encoder only reads them. `info` is owned and outlives the call.
        unsafe {
            if force_keyframe {
                check(
                    "ForceIntraFrame",
                    vfn(vt.ForceIntraFrame, "ForceIntraFrame")?(self.encoder, true),
                )?;
            }
            check(
                "EncodeFrame",
                vfn(vt.EncodeFrame, "EncodeFrame")?(self.encoder, &source, &mut *self.info),
            )?;
        }
        let info = &*self.info;
        if info.eFrameType == videoFrameTypeSkip || info.eFrameType == videoFrameTypeInvalid {
            return Ok(None);
        }
        self.annex_b.clear();
        for layer in &info.sLayerInfo[..info.iLayerNum.clamp(0, 128) as usize] {
            let nals = layer.iNalCount.max(0) as usize;
            if nals == 0 || layer.pNalLengthInByte.is_null() || layer.pBsBuf.is_null() {
                continue;
            }
            // SAFETY: openh264 guarantees `iNalCount` lengths and a buffer of their sum.
            let lengths = unsafe { std::slice::from_raw_parts(layer.pNalLengthInByte, nals) };
            let total: usize = lengths.iter().map(|&l| l.max(0) as usize).sum();
            // SAFETY: see above.
            self.annex_b
                .extend_from_slice(unsafe { std::slice::from_raw_parts(layer.pBsBuf, total) });
        }
        let au = h264::access_unit(&self.annex_b);
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

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        if !(crate::MIN_KBPS..=crate::MAX_KBPS).contains(&kbps) {
            return Err(CodecError::Config(format!(
                "{kbps} kbit/s is outside {}-{}",
                crate::MIN_KBPS,
                crate::MAX_KBPS
            )));
        }
        let bps = kbps as i32 * 1000;
        // The layer's target may never exceed its maximum: lower the target first, raise the
        // maximum first.
        let max = |e: &mut Self| {
            e.set_rate(ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_0, bps)?;
            e.set_rate(ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_ALL, bps)
        };
        if kbps > self.kbps {
            max(self)?;
            self.set_rate(ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL, bps)?;
        } else {
            self.set_rate(ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL, bps)?;
            max(self)?;
        }
        self.kbps = kbps;
        Ok(())
    }
}

impl Drop for OpenH264Encoder {
    fn drop(&mut self) {
        let vt = self.vtable();
        // SAFETY: the encoder is live and dropped exactly once here.
        unsafe {
            if let Some(uninit) = vt.Uninitialize {
                uninit(self.encoder);
            }
            APILoader::WelsDestroySVCEncoder(self.encoder);
        }
    }
}
