// Errno values as the guest (Emscripten musl on wasm32) numbers them.
//
// Emscripten uses the WASI numbering for the codes WASI has (dense, 1..76) and
// numbers the Linux-only codes from 100 up (system/lib/libc/musl/arch/
// emscripten/bits/errno.h). Every vfs operation returns these, negated, on
// failure; host errno values are translated in exactly one place,
// to_wasm_errno().
#pragma once

namespace pgthaw::vfs {

namespace wasm_errno {
inline constexpr int kE2BIG = 1;
inline constexpr int kEACCES = 2;
inline constexpr int kEADDRINUSE = 3;
inline constexpr int kEADDRNOTAVAIL = 4;
inline constexpr int kEAFNOSUPPORT = 5;
inline constexpr int kEAGAIN = 6;
inline constexpr int kEALREADY = 7;
inline constexpr int kEBADF = 8;
inline constexpr int kEBADMSG = 9;
inline constexpr int kEBUSY = 10;
inline constexpr int kECANCELED = 11;
inline constexpr int kECHILD = 12;
inline constexpr int kECONNABORTED = 13;
inline constexpr int kECONNREFUSED = 14;
inline constexpr int kECONNRESET = 15;
inline constexpr int kEDEADLK = 16;
inline constexpr int kEDESTADDRREQ = 17;
inline constexpr int kEDOM = 18;
inline constexpr int kEDQUOT = 19;
inline constexpr int kEEXIST = 20;
inline constexpr int kEFAULT = 21;
inline constexpr int kEFBIG = 22;
inline constexpr int kEHOSTUNREACH = 23;
inline constexpr int kEIDRM = 24;
inline constexpr int kEILSEQ = 25;
inline constexpr int kEINPROGRESS = 26;
inline constexpr int kEINTR = 27;
inline constexpr int kEINVAL = 28;
inline constexpr int kEIO = 29;
inline constexpr int kEISCONN = 30;
inline constexpr int kEISDIR = 31;
inline constexpr int kELOOP = 32;
inline constexpr int kEMFILE = 33;
inline constexpr int kEMLINK = 34;
inline constexpr int kEMSGSIZE = 35;
inline constexpr int kEMULTIHOP = 36;
inline constexpr int kENAMETOOLONG = 37;
inline constexpr int kENETDOWN = 38;
inline constexpr int kENETRESET = 39;
inline constexpr int kENETUNREACH = 40;
inline constexpr int kENFILE = 41;
inline constexpr int kENOBUFS = 42;
inline constexpr int kENODEV = 43;
inline constexpr int kENOENT = 44;
inline constexpr int kENOEXEC = 45;
inline constexpr int kENOLCK = 46;
inline constexpr int kENOLINK = 47;
inline constexpr int kENOMEM = 48;
inline constexpr int kENOMSG = 49;
inline constexpr int kENOPROTOOPT = 50;
inline constexpr int kENOSPC = 51;
inline constexpr int kENOSYS = 52;
inline constexpr int kENOTCONN = 53;
inline constexpr int kENOTDIR = 54;
inline constexpr int kENOTEMPTY = 55;
inline constexpr int kENOTRECOVERABLE = 56;
inline constexpr int kENOTSOCK = 57;
// 58 is WASI's ENOTSUP; musl on Emscripten aliases ENOTSUP to EOPNOTSUPP (138).
inline constexpr int kENOTTY = 59;
inline constexpr int kENXIO = 60;
inline constexpr int kEOVERFLOW = 61;
inline constexpr int kEOWNERDEAD = 62;
inline constexpr int kEPERM = 63;
inline constexpr int kEPIPE = 64;
inline constexpr int kEPROTO = 65;
inline constexpr int kEPROTONOSUPPORT = 66;
inline constexpr int kEPROTOTYPE = 67;
inline constexpr int kERANGE = 68;
inline constexpr int kEROFS = 69;
inline constexpr int kESPIPE = 70;
inline constexpr int kESRCH = 71;
inline constexpr int kESTALE = 72;
inline constexpr int kETIMEDOUT = 73;
inline constexpr int kETXTBSY = 74;
inline constexpr int kEXDEV = 75;
// Linux-only codes, Emscripten's own numbering.
inline constexpr int kENOSTR = 100;
inline constexpr int kEBFONT = 101;
inline constexpr int kEBADSLT = 102;
inline constexpr int kEBADRQC = 103;
inline constexpr int kENOANO = 104;
inline constexpr int kENOTBLK = 105;
inline constexpr int kECHRNG = 106;
inline constexpr int kEL3HLT = 107;
inline constexpr int kEL3RST = 108;
inline constexpr int kELNRNG = 109;
inline constexpr int kEUNATCH = 110;
inline constexpr int kENOCSI = 111;
inline constexpr int kEL2HLT = 112;
inline constexpr int kEBADE = 113;
inline constexpr int kEBADR = 114;
inline constexpr int kEXFULL = 115;
inline constexpr int kENODATA = 116;
inline constexpr int kETIME = 117;
inline constexpr int kENOSR = 118;
inline constexpr int kENONET = 119;
inline constexpr int kENOPKG = 120;
inline constexpr int kEREMOTE = 121;
inline constexpr int kEADV = 122;
inline constexpr int kESRMNT = 123;
inline constexpr int kECOMM = 124;
inline constexpr int kEDOTDOT = 125;
inline constexpr int kENOTUNIQ = 126;
inline constexpr int kEBADFD = 127;
inline constexpr int kEREMCHG = 128;
inline constexpr int kELIBACC = 129;
inline constexpr int kELIBBAD = 130;
inline constexpr int kELIBSCN = 131;
inline constexpr int kELIBMAX = 132;
inline constexpr int kELIBEXEC = 133;
inline constexpr int kERESTART = 134;
inline constexpr int kESTRPIPE = 135;
inline constexpr int kEUSERS = 136;
inline constexpr int kESOCKTNOSUPPORT = 137;
inline constexpr int kEOPNOTSUPP = 138;
inline constexpr int kEPFNOSUPPORT = 139;
inline constexpr int kESHUTDOWN = 140;
inline constexpr int kETOOMANYREFS = 141;
inline constexpr int kEHOSTDOWN = 142;
inline constexpr int kEUCLEAN = 143;
inline constexpr int kENOTNAM = 144;
inline constexpr int kENAVAIL = 145;
inline constexpr int kEISNAM = 146;
inline constexpr int kEREMOTEIO = 147;
inline constexpr int kENOMEDIUM = 148;
inline constexpr int kEMEDIUMTYPE = 149;
inline constexpr int kENOKEY = 150;
inline constexpr int kEKEYEXPIRED = 151;
inline constexpr int kEKEYREVOKED = 152;
inline constexpr int kEKEYREJECTED = 153;
inline constexpr int kERFKILL = 154;
inline constexpr int kEHWPOISON = 155;
inline constexpr int kEL2NSYNC = 156;
}  // namespace wasm_errno

// The guest errno for a host (Linux) errno value. Unknown values become EIO
// (29). The only place host errno numbers are translated.
int to_wasm_errno(int host_errno);

// -to_wasm_errno(errno): the usual failure return of a vfs operation right
// after a failed host syscall.
int neg_wasm_errno_from_host();

}  // namespace pgthaw::vfs
