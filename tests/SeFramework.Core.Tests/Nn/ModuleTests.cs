// Module registration, naming, modes, and state-dict loading with clear errors.
using SeFramework.Nn;
using Xunit;

namespace SeFramework.Tests;

public class ModuleTests
{
    private sealed class Block : Module
    {
        public Block()
        {
            Fc = RegisterModule("fc", new Linear(3, 2, rng: new Rng(1)));
            Scale = RegisterParameter("scale", Tensor.Ones(new[] { 2 }));
            Count = RegisterBuffer("count", Tensor.Zeros(new[] { 1 }));
            Drop = RegisterModule("drop", new Dropout(0.5));
        }

        public Linear Fc { get; }
        public Tensor Scale { get; }
        public Tensor Count { get; }
        public Dropout Drop { get; }

        public override Tensor Forward(Tensor input) => Fc.Forward(input) * Scale;
    }

    private sealed class Net : Module
    {
        public Net()
        {
            Layers = RegisterModule("layer1", new Sequential(new Block(), new Block()));
        }

        public Sequential Layers { get; }

        public override Tensor Forward(Tensor input) => Layers.Forward(input);
    }

    [Fact]
    public void Parameters_are_named_with_dots_in_declaration_order()
    {
        var names = new Net().NamedParameters().Select(p => p.Name).ToArray();
        Assert.Equal(new[] { "layer1.0.scale", "layer1.0.fc.weight", "layer1.0.fc.bias", "layer1.1.scale", "layer1.1.fc.weight", "layer1.1.fc.bias" }, names);
        var keys = new Net().StateDict().Keys.ToArray();
        Assert.Equal("layer1.0.scale", keys[0]);
        Assert.Equal("layer1.0.count", keys[1]);
        Assert.Equal(8, keys.Length);
    }

    [Fact]
    public void Train_and_eval_propagate_to_every_descendant()
    {
        var net = new Net();
        net.Eval();
        Assert.All(net.NamedModules(), m => Assert.False(m.Module.Training));
        net.Train();
        Assert.All(net.NamedModules(), m => Assert.True(m.Module.Training));
    }

    [Fact]
    public void LoadStateDict_copies_values_and_names_bad_keys()
    {
        var a = new Net();
        var b = new Net();
        using (SeFramework.Autograd.Autograd.NoGrad()) a.StateDict()["layer1.1.fc.bias"].Fill_(3);
        b.LoadStateDict(a.StateDict());
        Assert.Equal(new[] { 3f, 3f }, b.StateDict()["layer1.1.fc.bias"].ToFloatArray());

        var missing = new Dictionary<string, Tensor>(a.StateDict());
        missing.Remove("layer1.0.fc.weight");
        Assert.Contains("'layer1.0.fc.weight'", Assert.Throws<StateDictException>(() => b.LoadStateDict(missing)).Message);
        b.LoadStateDict(missing, strict: false);

        var extra = new Dictionary<string, Tensor>(a.StateDict()) { ["layer9.weight"] = Tensor.Zeros(new[] { 1 }) };
        Assert.Contains("'layer9.weight'", Assert.Throws<StateDictException>(() => b.LoadStateDict(extra)).Message);

        var wrong = new Dictionary<string, Tensor>(a.StateDict()) { ["layer1.0.scale"] = Tensor.Zeros(new[] { 3 }) };
        var ex = Assert.Throws<StateDictException>(() => b.LoadStateDict(wrong, strict: false));
        Assert.Contains("'layer1.0.scale'", ex.Message);
        Assert.Contains("[3]", ex.Message);
    }

    [Fact]
    public void Duplicate_member_names_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new DuplicateModule());
        Assert.Contains("'w'", ex.Message);
    }

    private sealed class DuplicateModule : Module
    {
        public DuplicateModule()
        {
            RegisterParameter("w", Tensor.Ones(new[] { 1 }));
            RegisterParameter("w", Tensor.Ones(new[] { 1 }));
        }

        public override Tensor Forward(Tensor input) => input;
    }
}
