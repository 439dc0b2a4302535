ST2V_DEPS = LAVFI_INDEV ST2V_FILTER AVDEVICE
FATE_METADATA_FILTER-$(call ALLYES, $(ST2V_DEPS)) += fate-filter-st2v
fate-filter-st2v: CMD = run ffprobe$(PROGSSUF)$(EXESUF) -of compact=p=0 -show_entries frame=pts,width,height,pix_fmt,sample_aspect_ratio:frame_tags -bitexact -f lavfi "st2v=model=$(TARGET_SAMPLES)/st2v/tiny.safetensors:prompt=a red ball bouncing:seed=1:steps=2:d=0.5:threads=1"

