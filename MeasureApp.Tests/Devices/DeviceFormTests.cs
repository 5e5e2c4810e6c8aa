using System.Text.Json;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Devices;

namespace MeasureApp.Tests.Devices;

/// <summary>
/// The Devices page's typed form (no page, no database): SCPI settings round-trip through its inputs,
/// block-mode inputs appear only in block mode, and a wrong value is refused naming its field.
/// </summary>
public sealed class DeviceFormTests
{
    [Fact]
    public void ABlockModeScpiDeviceRoundTripsThroughTheTypedInputs()
    {
        var device = new DeviceOptions
        {
            Id = "scope-1",
            Name = "Scope",
            Driver = "Scpi",
            Host = "192.168.1.50",
            Port = 5555,
            TimeoutMilliseconds = 750,
            Mode = ScpiMode.Block,
            ErrorQuery = "",
            InitCommands = ["*RST", ":WAV:FORM WORD"],
            DataFormat = ScpiDataFormat.Int16BigEndian,
            SampleIntervalSeconds = 1e-4,
            MaxBlockBytes = 65536,
            Channels = [new() { Name = "ch1", Unit = "V", Query = ":WAV:SOUR CHAN1;:WAV:DATA?", Scale = 1e-4, Offset = -0.25 }, new() { Name = "ch2", Unit = "A", Query = ":WAV:SOUR CHAN2;:WAV:DATA?" }],
        };

        var form = DeviceForm.From(device);
        var (back, errors) = form.ToOptions();

        Assert.Empty(errors);
        Assert.Null(form.MoreJson);
        Assert.Equal("*RST\n:WAV:FORM WORD", form.Values["InitCommands"]);
        Assert.Equal(JsonSerializer.Serialize(device, DeviceJson.Options), JsonSerializer.Serialize(back, DeviceJson.Options));
    }

    [Fact]
    public void BlockModeInputsAppearOnlyInBlockModeAndANewScpiFormStartsWithOneDmmChannel()
    {
        var form = DeviceForm.New("Scpi");

        Assert.Equal("5025", form.Values["Port"]);
        Assert.Equal("Polled", form.Values["Mode"]);
        Assert.Equal("SYST:ERR?", form.Values["ErrorQuery"]);
        Assert.Equal("MEAS:VOLT:DC?", Assert.Single(form.ScpiChannels).Query);
        Assert.DoesNotContain(form.Fields, f => f.Property == "DataFormat");

        form.Values["Mode"] = "Block";

        Assert.Contains(form.Fields, f => f.Property == "DataFormat" && f.Choices!.Contains("Float32LittleEndian"));
        Assert.Contains(form.Fields, f => f.Property == "SampleIntervalSeconds");
    }

    [Fact]
    public void WrongValuesAreRefusedNamingTheFieldAndTheChannelRow()
    {
        var form = DmmForm("127.0.0.1");
        form.Values["Mode"] = "Fast";
        form.Values["Port"] = "50x";
        form.ScpiChannels.Add(new ScpiChannelRow { Query = "MEAS:CURR:DC?", Scale = "1e3", Offset = "zero" });

        var (device, errors) = form.ToOptions();

        Assert.Null(device);
        Assert.Equal(["Port", "Mode", "Channels:1:Offset"], errors.Select(e => e.Field));
        Assert.Equal("Mode must be one of Polled, Block (got 'Fast').", errors[1].Message);
        Assert.Equal("Channels:1:Offset must be a number (got 'zero').", errors[2].Message);
    }

    [Fact]
    public void BlankChannelNamesAndUnitsGetDefaultsAndBlankLinesAreNoCommands()
    {
        var form = DmmForm("dmm.lab");
        form.Values["InitCommands"] = "*RST\n\n  CONF:VOLT:DC 10  \n";
        form.ScpiChannels.Add(new ScpiChannelRow { Name = " ", Unit = "", Query = "MEAS:CURR:DC?" });

        var (device, errors) = form.ToOptions();

        Assert.Empty(errors);
        Assert.Equal(["*RST", "CONF:VOLT:DC 10"], device!.InitCommands);
        Assert.Equal(("ch2", "V"), (device.Channels[1].Name, device.Channels[1].Unit));
    }

    private static DeviceForm DmmForm(string host)
    {
        var form = DeviceForm.New("Scpi");
        form.Id = "dmm";
        form.Values["Host"] = host;
        return form;
    }
}
